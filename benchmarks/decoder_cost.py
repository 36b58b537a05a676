"""What an architecture costs: training seconds per epoch and the time of a k=5000 IWAE evaluation.

The k = 5000 evaluation of the 10,000 test images decodes 50 million latent codes, so the decoder's
cost decides which architectures can be evaluated by the standard protocol on a CPU. This script
times a few training steps and one large decode per architecture and extrapolates.

Usage: python benchmarks/decoder_cost.py [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from vae import ModelConfig, build_model, num_parameters

CANDIDATES = {
    "mlp 400 (pytorch/examples)": ModelConfig(arch="mlp", latent_dim=20, hidden=(400,)),
    "mlp 512-512 (shipped)": ModelConfig(arch="mlp", latent_dim=32, hidden=(512, 512)),
    "conv encoder, mlp decoder": ModelConfig(arch="conv", latent_dim=32, hidden=(512, 512), channels=32, decoder="mlp"),
    "conv encoder and decoder (c=16)": ModelConfig(arch="conv", latent_dim=32, hidden=(256,), channels=16, decoder="conv"),
    "conv encoder and decoder (c=32)": ModelConfig(arch="conv", latent_dim=32, hidden=(512,), channels=32, decoder="conv"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(256, 1, 28, 28).bernoulli()
    print("| architecture | parameters | train s/epoch (60k images) | IWAE k=5000 evaluation (min) |")
    print("| --- | ---: | ---: | ---: |")
    for name, config in CANDIDATES.items():
        torch.manual_seed(0)
        model = build_model(config)
        opt = torch.optim.Adam(model.parameters())
        for i in range(7):
            if i == 2:
                start = time.perf_counter()
            loss = model(x).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        per_image = (time.perf_counter() - start) / 5 / x.shape[0]
        with torch.inference_mode():
            z = torch.randn(10_000, config.latent_dim)
            start = time.perf_counter()
            model.decode(z)
            decode = (time.perf_counter() - start) / z.shape[0]
        print(f"| {name} | {num_parameters(model):,} | {60_000 * per_image:.1f} | {5e7 * decode / 60:.0f} |")


if __name__ == "__main__":
    main()
