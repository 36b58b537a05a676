"""A small MNIST classifier, used to check that generated digits are recognisable.

It is not part of any VAE: the tests and `benchmarks/sample_quality.py` use it to measure how
often samples of the conditional VAE are the digit that was asked for, and how confidently the
samples of the default VAE are recognised. The shipped weights (`vae/assets/classifier.safetensors`,
99%+ test accuracy) are produced by `python scripts/train_classifier.py`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checkpoint import load_state, read_tensors, write_tensors

CLASSIFIER_PATH = Path(__file__).parent / "assets" / "classifier.safetensors"


class MaxPool2x2(nn.Module):
    """2 x 2 max pooling, stride 2, as the elementwise maximum of the four strided sub-grids.

    The same values as `nn.MaxPool2d(2)` (and no parameters, so the same weights file); about ten
    times faster on CPU for these small batches, where torch's pooling kernel dominated the
    classifier's time (a test checks the two agree).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # like MaxPool2d, an odd last row/column is dropped
        x = x[..., :h, :w]
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]), torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


class Classifier(nn.Module):
    """Two conv blocks and a linear head: (B, 1, 28, 28) in [0, 1] -> (B, 10) logits."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), MaxPool2x2(),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), MaxPool2x2(),  # (B, 64, 7, 7)
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted digits and their probabilities: (B, 1, 28, 28) -> labels (B,), confidence (B,)."""
        self.eval()
        probs = torch.cat([self(x[i : i + batch_size]).softmax(dim=1) for i in range(0, x.shape[0], batch_size)])
        confidence, labels = probs.max(dim=1)
        return labels, confidence


def load_classifier(path: str | Path = CLASSIFIER_PATH) -> Classifier:
    """The shipped classifier (eval mode), read from safetensors."""
    model = Classifier()
    load_state(model, read_tensors(Path(path)), Path(path))
    return model.eval()


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 3, seed: int = 0) -> Classifier:
    """Train on gray-level images (N, 1, 28, 28) with labels (N,), with small random shifts."""
    torch.manual_seed(seed)
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * ((images.shape[0] + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(images.shape[0])
        for i in range(0, images.shape[0], 128):
            idx = order[i : i + 128]
            x = images[idx]
            dx, dy = torch.randint(-2, 3, (2,)).tolist()  # random shift of up to 2 pixels
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            loss = nn.functional.cross_entropy(model(x), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def save_classifier(model: Classifier, path: str | Path = CLASSIFIER_PATH) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_tensors({k: v.contiguous() for k, v in model.state_dict().items()}, path)


@torch.no_grad()
def conditional_accuracy(model: nn.Module, classifier: Classifier, per_digit: int = 100, temperature: float = 1.0, seed: int = 0) -> dict[str, float]:
    """How often a conditional VAE's samples are recognised as the digit that was asked for.

    Draws `per_digit` prior samples for each digit 0-9, decodes them (decoder mean) and classifies
    them. Returns the overall rate and the rate per digit.
    """
    from .latent import decode_images

    gen = torch.Generator().manual_seed(seed)
    digits = torch.arange(10).repeat_interleave(per_digit)  # (10 * per_digit,)
    z = model.prior.sample(digits.shape[0], temperature, gen)
    predicted, _ = classifier.predict(decode_images(model, z, digits))
    hits = predicted == digits
    return {"accuracy": hits.float().mean().item(), **{f"digit_{d}": hits[digits == d].float().mean().item() for d in range(10)}}


@torch.no_grad()
def confident_fraction(model: nn.Module, classifier: Classifier, n: int = 1000, threshold: float = 0.9, temperature: float = 1.0, seed: int = 0) -> dict[str, float]:
    """The fraction of prior samples the classifier recognises with confidence >= `threshold`."""
    from .latent import sample_images

    _, confidence = classifier.predict(sample_images(model, n, temperature, torch.Generator().manual_seed(seed)))
    return {"confident_fraction": (confidence >= threshold).float().mean().item(), "mean_confidence": confidence.mean().item()}
