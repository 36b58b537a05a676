r"""Training speed: the pytorch/examples VAE recipe as written there, against `vae.train`.

The recipe (pytorch/examples `vae/main.py`): an MLP VAE 784-400-20, Adam with lr 1e-3, batches of
128, gray-level binary cross-entropy (no binarization), 10 epochs. Its test loss is the summed
BCE + KL over the 10,000 test images with one sampled z each, divided by 10,000.

Three runs, in one process, on the same data, thread count and device (CPU):

1. **pytorch/examples** — a faithful re-implementation, written below for comparison only: a
   `torchvision` `DataLoader` with `transforms.ToTensor()`, its own model class and loss, a
   per-batch `.to(device)`, its per-epoch test pass, reconstruction and sample images.
2. **vae.train, same settings** — this package with the recipe's settings: the only change is
   that the data sit in memory as one tensor (what `vae.load_mnist` returns).
3. **vae.train, fast** — the package with faster settings (larger batches, a larger peak learning
   rate with cosine decay, fewer epochs) that must reach a test loss no higher than run 1's.

Every run's test loss is the same quantity (package: `vae.evaluation.average_loss` with
`binarize="none"`, i.e. -ELBO on gray levels with one seeded posterior sample per image). Times are
wall-clock seconds: "total" includes reading the data and every per-epoch test pass, checkpoint and
image. Timings are only meaningful on an otherwise idle machine: the script records the load average
before and after, and warns when the machine is busy.

Usage:

    python benchmarks/train_speed.py --data-root ../shared/data [--epochs 10] [--threads 2]
    python benchmarks/train_speed.py --quick           # smoke run: 1 epoch on 2,000 images

Prints a Markdown table and writes benchmarks/results/train_speed.json (train_speed_quick.json for
--quick, so a smoke run never overwrites a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import vae

RESULTS_DIR = Path(__file__).parent / "results"

# The pytorch/examples recipe.
RECIPE = {"hidden": 400, "latent_dim": 20, "batch_size": 128, "lr": 1e-3, "epochs": 10, "seed": 1}
# The package's fast settings, chosen from short runs of vae.train (batch 128 with lr 4e-3 and cosine
# decay reaches the recipe's 10-epoch test loss in 6 epochs; batch 192-256 learns less per epoch).
FAST = {"batch_size": 128, "lr": 4e-3, "lr_schedule": "cosine", "min_lr_ratio": 0.05, "epochs": 6}


# -- 1. the pytorch/examples recipe, re-implemented as it is written there ---------------------------
class ExamplesVAE(nn.Module):
    """The model class of pytorch/examples `vae/main.py` (fc1, fc21/fc22, fc3, fc4; sigmoid output)."""

    def __init__(self, hidden: int = 400, latent_dim: int = 20) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent_dim)
        self.fc22 = nn.Linear(hidden, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def examples_loss(recon_x: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Reconstruction + KL divergence losses summed over all elements and batch (as in pytorch/examples)."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


@dataclass
class RunResult:
    """One training run: settings, per-epoch times and test losses."""

    recipe: str
    settings_changed: str
    settings: dict[str, Any]
    epoch_seconds: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    setup_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.test_loss)

    @property
    def final_test_loss(self) -> float:
        return self.test_loss[-1]

    def seconds_to_reach(self, target: float) -> float | None:
        """Wall-clock seconds (setup included) until the first epoch whose test loss is <= target."""
        elapsed = self.setup_seconds
        for seconds, loss in zip(self.epoch_seconds, self.test_loss):
            elapsed += seconds
            if loss <= target:
                return elapsed
        return None


def run_examples_recipe(data_root: str | Path | None, epochs: int, train_size: int | None = None, test_size: int | None = None,
                        image_dir: Path | None = None, device: str = "cpu") -> RunResult:
    """Train the pytorch/examples VAE exactly as its script does, timing each epoch (train + test + images)."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms
    from torchvision.utils import save_image

    result = RunResult("pytorch/examples", "none (reference)", {**RECIPE, "epochs": epochs, "data": "DataLoader + ToTensor"})
    start = time.perf_counter()
    root = str(vae.resolve_data_root(data_root))
    torch.manual_seed(RECIPE["seed"])
    dev = torch.device(device)
    kwargs = {"num_workers": 1, "pin_memory": True} if dev.type == "cuda" else {}
    train_set = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    test_set = datasets.MNIST(root, train=False, transform=transforms.ToTensor())
    if train_size is not None:
        train_set = Subset(train_set, range(train_size))
    if test_size is not None:
        test_set = Subset(test_set, range(test_size))
    train_loader = DataLoader(train_set, batch_size=RECIPE["batch_size"], shuffle=True, **kwargs)
    test_loader = DataLoader(test_set, batch_size=RECIPE["batch_size"], shuffle=False, **kwargs)
    model = ExamplesVAE(RECIPE["hidden"], RECIPE["latent_dim"]).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    image_dir = Path(image_dir or tempfile.mkdtemp(prefix="examples-vae-"))
    image_dir.mkdir(parents=True, exist_ok=True)
    result.setup_seconds = time.perf_counter() - start

    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        # train(epoch)
        model.train()
        train_loss = 0.0
        for data, _ in train_loader:
            data = data.to(dev)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = examples_loss(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        # test(epoch)
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for i, (data, _) in enumerate(test_loader):
                data = data.to(dev)
                recon_batch, mu, logvar = model(data)
                test_loss += examples_loss(recon_batch, data, mu, logvar).item()
                if i == 0:
                    n = min(data.size(0), 8)
                    comparison = torch.cat([data[:n], recon_batch.view(data.size(0), 1, 28, 28)[:n]])
                    save_image(comparison.cpu(), str(image_dir / f"reconstruction_{epoch}.png"), nrow=n)
        test_loss /= len(test_loader.dataset)
        with torch.no_grad():
            sample = torch.randn(64, RECIPE["latent_dim"]).to(dev)
            sample = model.decode(sample).cpu()
            save_image(sample.view(64, 1, 28, 28), str(image_dir / f"sample_{epoch}.png"))
        result.epoch_seconds.append(time.perf_counter() - epoch_start)
        result.test_loss.append(test_loss)
    result.total_seconds = time.perf_counter() - start
    return result


# -- 2 and 3. this package ----------------------------------------------------------------------------
def run_package(data_root: str | Path | None, train_config: vae.TrainConfig, out_dir: Path, recipe: str, settings_changed: str,
                test_size: int | None = None, grids: bool = True, device: str = "cpu") -> RunResult:
    """`vae.train` on in-memory MNIST with the recipe's model, timing the whole run."""
    model_config = vae.ModelConfig(arch="mlp", hidden=(RECIPE["hidden"],), latent_dim=RECIPE["latent_dim"])
    result = RunResult(recipe, settings_changed, {**asdict(train_config), "data": "in-memory tensors"})
    start = time.perf_counter()
    train_data = vae.load_mnist(True, data_root)
    test_data = vae.load_mnist(False, data_root).subset(test_size)
    result.setup_seconds = time.perf_counter() - start
    history = vae.train(model_config, train_config, out_dir, train_data, test_data, device=device, progress=False, grids=grids)
    result.total_seconds = time.perf_counter() - start
    result.epoch_seconds = [h["wall_seconds"] - (history[i - 1]["wall_seconds"] if i else 0.0) for i, h in enumerate(history)]
    result.test_loss = [h["test_loss"] for h in history]
    return result


def same_settings_config(epochs: int, train_size: int | None = None) -> vae.TrainConfig:
    return vae.TrainConfig(epochs=epochs, batch_size=RECIPE["batch_size"], lr=RECIPE["lr"], binarize="none",
                           seed=RECIPE["seed"], train_size=train_size)


def fast_config(epochs: int, batch_size: int, lr: float, min_lr_ratio: float = FAST["min_lr_ratio"],
                train_size: int | None = None) -> vae.TrainConfig:
    return vae.TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule="cosine", min_lr_ratio=min_lr_ratio,
                           binarize="none", seed=RECIPE["seed"], train_size=train_size)


def describe_fast(config: vae.TrainConfig) -> str:
    return (f"in-memory data, batch {config.batch_size}, lr {config.lr:g} with cosine decay to "
            f"{config.lr * config.min_lr_ratio:g}, {config.epochs} epochs")


def warm_up() -> None:
    """A few steps of both models, so that neither timed run pays torch's one-off initialisation."""
    x = torch.rand(RECIPE["batch_size"], 1, 28, 28)
    for model in (ExamplesVAE(), vae.build_model(vae.ModelConfig(hidden=(RECIPE["hidden"],), latent_dim=RECIPE["latent_dim"]))):
        optimizer = torch.optim.Adam(model.parameters())
        for _ in range(3):
            if isinstance(model, ExamplesVAE):
                recon, mu, logvar = model(x)
                loss = examples_loss(recon, x, mu, logvar)
            else:
                loss = model(x).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


# -- report -------------------------------------------------------------------------------------------
def summarise(runs: list[RunResult]) -> list[dict[str, Any]]:
    """JSON-ready rows; speed-up is the reference's total time over the run's total time."""
    reference = runs[0]
    rows = []
    for run in runs:
        reached = run.final_test_loss <= reference.final_test_loss
        rows.append({
            "recipe": run.recipe,
            "settings_changed": run.settings_changed,
            "settings": run.settings,
            "epochs": run.epochs,
            "seconds_per_epoch": sum(run.epoch_seconds) / run.epochs,
            "setup_seconds": run.setup_seconds,
            "total_seconds": run.total_seconds,
            "epoch_seconds": run.epoch_seconds,
            "test_loss_per_epoch": run.test_loss,
            "final_test_loss": run.final_test_loss,
            "reaches_reference_loss": reached,
            "seconds_to_reference_loss": run.seconds_to_reach(reference.final_test_loss),
            "speedup": reference.total_seconds / run.total_seconds,
        })
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| recipe | settings changed | epochs | seconds/epoch | total seconds | final test loss | speed-up |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        mark = "" if r["reaches_reference_loss"] else " (above reference)"
        lines.append(f"| {r['recipe']} | {r['settings_changed']} | {r['epochs']} | {r['seconds_per_epoch']:.1f} | "
                     f"{r['total_seconds']:.1f} | {r['final_test_loss']:.2f}{mark} | {r['speedup']:.2f}x |")
    return "\n".join(lines)


def machine_info(threads: int) -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "device": "cpu",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Training speed of the pytorch/examples VAE recipe against vae.train.")
    parser.add_argument("--data-root", help=vae.data.DATA_ROOT_HELP)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"],
                        help="epochs of the reference recipe and of the same-settings run (default 10)")
    parser.add_argument("--fast-epochs", type=int,
                        help=f"epochs of the fast run (default {FAST['epochs']}, or --epochs if smaller)")
    parser.add_argument("--fast-batch-size", type=int, default=FAST["batch_size"])
    parser.add_argument("--fast-lr", type=float, default=FAST["lr"])
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="torch CPU threads for every run (default 2)")
    parser.add_argument("--skip-same-settings", action="store_true", help="do not run vae.train with the recipe's own settings")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 epoch on 2,000 training and 1,000 test images")
    parser.add_argument("--train-size", type=int, help="use only the first N training images (default all; 2,000 with --quick)")
    parser.add_argument("--test-size", type=int, help="use only the first N test images (default all; 1,000 with --quick)")
    parser.add_argument("--out", type=Path, help="JSON file to write (default benchmarks/results/train_speed.json)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    epochs = 1 if args.quick else args.epochs
    fast_epochs = 1 if args.quick else (args.fast_epochs or min(FAST["epochs"], epochs))
    train_size = args.train_size or (2000 if args.quick else None)
    test_size = args.test_size or (1000 if args.quick else None)
    out = args.out or RESULTS_DIR / ("train_speed_quick.json" if args.quick else "train_speed.json")
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]:.2f}; the machine is busy and the timings will not be representative")

    from torchvision import datasets, transforms  # noqa: F401  (imported before any timing starts)

    warm_up()
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        work = Path(tmp)
        runs = [run_examples_recipe(args.data_root, epochs, train_size, test_size, work / "examples")]
        print(f"pytorch/examples: {runs[0].total_seconds:.1f} s, test loss {runs[0].final_test_loss:.2f}", flush=True)
        if not args.skip_same_settings:
            runs.append(run_package(args.data_root, same_settings_config(epochs, train_size), work / "same", "vae.train",
                                    "in-memory data only", test_size))
            same = runs[-1]
            print(f"vae.train, same settings: {same.total_seconds:.1f} s, test loss {same.final_test_loss:.2f}", flush=True)
        fast = fast_config(fast_epochs, args.fast_batch_size, args.fast_lr, train_size=train_size)
        runs.append(run_package(args.data_root, fast, work / "fast", "vae.train, fast", describe_fast(fast), test_size))
        print(f"vae.train, fast: {runs[-1].total_seconds:.1f} s, test loss {runs[-1].final_test_loss:.2f}\n", flush=True)

    rows = summarise(runs)
    load_after = os.getloadavg()
    report = {
        "benchmark": "train_speed",
        "command": "python benchmarks/train_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick or train_size is not None or test_size is not None,
        "train_size": train_size or 60000,
        "test_size": test_size or 10000,
        "machine": machine_info(args.threads),
        "load_average_before": load_before,
        "load_average_after": load_after,
        # idle before, and nothing but this script's own threads running at the end
        "timings_representative": load_before[0] <= 0.5 and load_after[0] <= args.threads + 0.5,
        "reference_test_loss": rows[0]["final_test_loss"],
        "runs": rows,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(rows))
    fast_row = rows[-1]
    verdict = "reaches" if fast_row["reaches_reference_loss"] else "does NOT reach"
    print(f"\nThe fast run {verdict} the reference test loss ({fast_row['final_test_loss']:.2f} vs "
          f"{rows[0]['final_test_loss']:.2f}) with a {fast_row['speedup']:.2f}x speed-up. Wrote {out}")
    if not fast_row["reaches_reference_loss"]:
        print(f"hint: the fast run ended above the reference; try --fast-epochs {fast_row['epochs'] + 1}")
    elif fast_row["seconds_to_reference_loss"] is not None and fast_row["test_loss_per_epoch"][-2:-1] and \
            fast_row["test_loss_per_epoch"][-2] <= rows[0]["final_test_loss"]:
        print("hint: the fast run was already below the reference one epoch early; fewer --fast-epochs may do")
    if not report["timings_representative"]:
        print(f"note: load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (this script's own threads: "
              f"{args.threads}): the timings are not representative; re-run on an idle machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
