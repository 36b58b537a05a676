r"""Training speed: the pytorch/examples VAE recipe as written there, against `vae.train`.

The recipe (pytorch/examples `vae/main.py`): an MLP VAE 784-400-20, Adam with lr 1e-3, batches of
128, gray-level binary cross-entropy (no binarization), 10 epochs. Its test loss is the summed
BCE + KL over the 10,000 test images with one sampled z each, divided by 10,000.

Three runs, in one process, on the same data, thread count and device (CPU), repeated (three times by
default, the three runs in turn in every repeat, so that a change in the machine's speed touches all of
them alike); every recipe's row is its repeat of median total time, and the speed-up is the reference's
median total over the run's median total:

1. **pytorch/examples** — a faithful re-implementation, written below for comparison only: a
   `torchvision` `DataLoader` with `transforms.ToTensor()`, its own model class and loss, a
   per-batch `.to(device)`, its per-epoch test pass, reconstruction and sample images.
2. **vae.train, same settings** — this package with the recipe's settings: the only change is
   that the data sit in memory as one tensor (what `vae.load_mnist` returns).
3. **vae.train, fast** — the package with faster settings (`FAST`: larger batches, a larger peak
   learning rate with a linear warm-up and cosine decay, Adam's beta2 0.99, bfloat16 networks, the
   fused Adam update, fewer epochs) that must reach a test loss no higher than run 1's.

Every run's test loss is the same quantity (package: `vae.evaluation.average_loss` with
`binarize="none"`, i.e. -ELBO on gray levels with one seeded posterior sample per image). Times are
wall-clock seconds: "total" includes reading the data and every per-epoch test pass, checkpoint and
image. Timings are only meaningful on an otherwise idle machine: the script records the load average
before and after, and warns when the machine is busy.

How close each run comes to the machine's limit: `step_macs` counts the multiply-adds of one training
step's matrix products (forward, and backward the weight gradient of every layer and the input gradient
of every layer but the first: 1,640,000 per image, 3.28 MFLOP), and every run's "train GFLOP/s" is that
count over its training steps' seconds (test passes, checkpoints and images excluded; the reference's
`DataLoader` included, as it is part of its steps). `matmul_peak` measures the machine's peak the same
way, from square `torch.mm` products in fp32 and bf16 at the run's thread count (a few seconds); the
table's "% of peak" compares each run with the peak of the precision its networks ran in.

Usage:

    python benchmarks/train_speed.py --data-root ../shared/data [--epochs 10] [--threads 2] [--repeats 3] [--write]
    python benchmarks/train_speed.py --quick           # smoke run: 1 epoch on 2,000 images
    python benchmarks/train_speed.py --fast-precision bf16 --fast-adam fused --fast-epochs 7 --out /tmp/x.json

Prints a Markdown table and writes benchmarks/results/train_speed.json (train_speed_quick.json for
--quick, so a smoke run never overwrites a measurement); --write also puts the table into
docs/performance.md (between its `train-speed` markers).
"""

from __future__ import annotations

import argparse
import json
import math
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

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
sys.path.insert(0, str(Path(__file__).parent))
from docs_blocks import write_block
from precision import bf16_units

RESULTS_DIR = Path(__file__).parent / "results"
PAGE = Path(__file__).parents[1] / "docs" / "performance.md"
BLOCK = "train-speed"  # the table's markers on PAGE

# The pytorch/examples recipe.
RECIPE = {"hidden": 400, "latent_dim": 20, "batch_size": 128, "lr": 1e-3, "epochs": 10, "seed": 1}
# The package's fast settings, chosen from full-data runs of vae.train on a busy machine (test losses at 1 thread;
# per-epoch times as ratios to the reference's epoch, interleaved): an epoch of batch 512 with bf16 networks and the
# fused Adam update costs about half an epoch of the earlier fast settings (batch 128, lr 4e-3, fp32, 6 epochs:
# 105.37), and with a 200-step warm-up to lr 1.2e-2 and Adam's beta2 0.99 it reaches the reference's loss in 7
# epochs (105.31; 8 epochs 104.65, 6 epochs 106.23). Without the warm-up lr 1.2e-2 stalls (143 after 8), and without
# beta2 0.99 batch 512 needs lr 1.6e-2 and 8 epochs (105.48, fp32). bf16 at batch 128 costs ~0.3 nats (6 epochs
# 105.69 against 105.35 in fp32).
FAST = {"batch_size": 512, "lr": 1.2e-2, "lr_schedule": "cosine", "min_lr_ratio": 0.05, "epochs": 7, "precision": "bf16",
        "adam_implementation": "fused", "lr_warmup_steps": 200, "adam_beta2": 0.99}


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
    train_seconds: list[float] = field(default_factory=list)  # per epoch: the training steps only (no test pass)
    train_images: int = 0  # images trained on per epoch
    precision: str = "fp32"  # of the networks' matrix products while training

    @property
    def epochs(self) -> int:
        return len(self.test_loss)

    @property
    def final_test_loss(self) -> float:
        return self.test_loss[-1]

    @property
    def train_gflops(self) -> float:
        """Achieved GFLOP/s of the training steps: counted FLOPs of every step over the steps' seconds."""
        return self.epochs * self.train_images * flops_per_image() / sum(self.train_seconds) / 1e9

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
    result.train_images = len(train_set)

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
        result.train_seconds.append(time.perf_counter() - epoch_start)  # the loader's reading and batching included
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
    result.train_seconds = [h["epoch_seconds"] for h in history]  # vae.train times the steps apart from the test pass
    result.train_images = train_config.train_size or len(train_data)
    result.precision = train_config.precision
    return result


def same_settings_config(epochs: int, train_size: int | None = None) -> vae.TrainConfig:
    return vae.TrainConfig(epochs=epochs, batch_size=RECIPE["batch_size"], lr=RECIPE["lr"], binarize="none",
                           seed=RECIPE["seed"], train_size=train_size)


def fast_config(epochs: int, batch_size: int, lr: float, min_lr_ratio: float = FAST["min_lr_ratio"],
                train_size: int | None = None, **options: Any) -> vae.TrainConfig:
    """The fast run's config: FAST's other settings (precision, adam_implementation, lr_warmup_steps, adam_beta2) unless given."""
    rest = {k: options.get(k, FAST[k]) for k in ("precision", "adam_implementation", "lr_warmup_steps", "adam_beta2")}
    return vae.TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule="cosine", min_lr_ratio=min_lr_ratio,
                           binarize="none", seed=RECIPE["seed"], train_size=train_size, **rest)


def describe_fast(config: vae.TrainConfig) -> str:
    warmup = f"linear warm-up over {config.lr_warmup_steps} steps, " if config.lr_warmup_steps else ""
    extras = "".join([f", Adam beta2 {config.adam_beta2:g}" if config.adam_beta2 != 0.999 else "",
                      ", bf16 networks" if config.precision == "bf16" else "",
                      ", fused Adam" if config.adam_implementation == "fused" else ""])
    return (f"in-memory data, batch {config.batch_size}, lr {config.lr:g} with {warmup}cosine decay to "
            f"{config.lr * config.min_lr_ratio:g}, {config.epochs} epochs{extras}")


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


# -- the work of a training step and the machine's limit ----------------------------------------------
def mlp_layers(hidden: int = RECIPE["hidden"], latent_dim: int = RECIPE["latent_dim"], pixels: int = 784) -> list[tuple[int, int]]:
    """(inputs, outputs) of the MLP's four matrix products, in order: encoder 784-400-(2 x 20), decoder 20-400-784.

    The reference's fc21 and fc22 (400 -> 20 each) are the package's one 400 -> 40 layer: the same multiply-adds.
    """
    return [(pixels, hidden), (hidden, 2 * latent_dim), (latent_dim, hidden), (hidden, pixels)]


def step_macs(batch_size: int, layers: list[tuple[int, int]] | None = None) -> dict[str, int]:
    r"""Multiply-adds of the matrix products of one training step on a batch of B images.

    A linear layer $Y = X W^\top$ with $n_\text{in}$ inputs and $n_\text{out}$ outputs costs
    $B n_\text{in} n_\text{out}$ multiply-adds forward, and the same again for each of its two backward
    products: the weight gradient $dW = dY^\top X$ and the input gradient $dX = dY W$. The first layer's
    input is the data, which needs no gradient, so its $dX$ is not computed and not counted.

    Not counted: biases, activations, the reparameterization, the loss and the optimizer update
    (elementwise, memory-bound, a few percent of the arithmetic at batch 128). FLOPs = 2 x MACs.
    """
    layers = mlp_layers() if layers is None else layers
    forward = sum(i * o for i, o in layers)
    weight_grads = forward
    input_grads = sum(i * o for i, o in layers[1:])
    return {"forward": batch_size * forward, "weight_gradients": batch_size * weight_grads,
            "input_gradients": batch_size * input_grads,
            "total": batch_size * (forward + weight_grads + input_grads)}


def flops_per_image() -> int:
    """FLOPs (2 x multiply-adds) of the training step's matrix products per image: 3,280,000 for 784-400-20."""
    return 2 * step_macs(1)["total"]


PEAK_SIZES = (256, 512, 1024)  # square matrices: the MLP's products are 128-512 x 20-784 x 20-784
PEAK_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_gflops(n: int, dtype: torch.dtype, repeats: int = 5, seconds: float = 0.05) -> float:
    """GFLOP/s of an n x n by n x n `torch.mm` at torch's current thread count: the best of `repeats` timings of about `seconds`."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    start = time.perf_counter()
    torch.mm(a, b, out=out)  # warm-up, and a first estimate of how many calls take `seconds`
    calls = max(1, round(seconds / max(time.perf_counter() - start, 1e-6)))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=out)
        best = min(best, (time.perf_counter() - start) / calls)
    return 2 * n**3 / best / 1e9


def matmul_peak(sizes: tuple[int, ...] = PEAK_SIZES, repeats: int = 5, seconds: float = 0.05) -> dict[str, dict[str, Any]]:
    """The machine's measured matmul peak for fp32 and bf16: the best GFLOP/s over the sizes (each size's best recorded too)."""
    peak = {}
    for name, dtype in PEAK_DTYPES.items():
        by_size = {str(n): matmul_gflops(n, dtype, repeats, seconds) for n in sizes}
        peak[name] = {"gflops": max(by_size.values()), "by_size": by_size}
    return peak


# -- torch.compile: does it pay for itself within a run? --------------------------------------------
def compile_cost(config: vae.TrainConfig, steps: int = 50) -> dict[str, Any]:
    """Seconds of the first training step and the mean of the next `steps`, eager and with `torch.compile` on the
    model's forward, at the fast run's batch size and precision (one fixed batch of random images). The compiler
    writes to an empty cache folder, so the first step costs what it costs a user's first run."""
    with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
        previous = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        try:
            torch._dynamo.reset()
            return _compile_cost(config, steps)
        finally:
            if previous is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = previous


def _train_step(model: vae.EncoderDecoder, optimizer: torch.optim.Optimizer, x: torch.Tensor, config: vae.TrainConfig) -> None:
    """One of `vae.train`'s steps on the batch x: the package's loss in the config's precision, then Adam."""
    y = torch.zeros(x.shape[0], dtype=torch.long)
    with model.precision(config.precision):
        loss = vae.training_loss(model, x, y, config, beta=1.0)["loss"]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _compile_cost(config: vae.TrainConfig, steps: int) -> dict[str, Any]:
    x = torch.rand(config.batch_size, 1, 28, 28)
    result: dict[str, Any] = {"batch_size": config.batch_size, "precision": config.precision, "steps": steps}
    for name in ("eager", "compiled"):
        torch.manual_seed(0)
        model = vae.build_model(vae.ModelConfig(arch="mlp", hidden=(RECIPE["hidden"],), latent_dim=RECIPE["latent_dim"]))
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=config.adam_implementation == "fused")
        if name == "compiled":
            model.forward = torch.compile(model.forward)
        start = time.perf_counter()
        _train_step(model, optimizer, x, config)
        result[f"{name}_first_step_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            _train_step(model, optimizer, x, config)
        result[f"{name}_step_seconds"] = (time.perf_counter() - start) / steps
    saved = result["eager_step_seconds"] - result["compiled_step_seconds"]
    extra = result["compiled_first_step_seconds"] - result["eager_first_step_seconds"]
    result["break_even_steps"] = extra / saved if saved > 0 else None  # None: compiled steps are no faster
    return result


def compile_line(cost: dict[str, Any], steps_per_run: int) -> str:
    even = cost["break_even_steps"]
    verdict = ("compiled steps are no faster, so it never pays" if even is None else
               f"it pays after {even:,.0f} steps, against the fast run's {steps_per_run:,}")
    return (f"torch.compile (the model's forward, batch {cost['batch_size']}, {cost['precision']}): first step "
            f"{cost['compiled_first_step_seconds']:.1f} s against {cost['eager_first_step_seconds']:.2f} s eager, then "
            f"{1000 * cost['compiled_step_seconds']:.2f} ms a step against {1000 * cost['eager_step_seconds']:.2f} ms; {verdict}.")


# -- report -------------------------------------------------------------------------------------------
def median_run(runs: list[RunResult]) -> RunResult:
    """The run of median total time (the lower median of an even number)."""
    return sorted(runs, key=lambda run: run.total_seconds)[(len(runs) - 1) // 2]


def summarise(repeats: list[list[RunResult]], peak: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-ready rows, one per recipe, from the repeats (each a list of runs, the reference first).

    A recipe's row is its repeat of median total time (epochs, losses, GFLOP/s); its speed-up is the reference's
    median total over its own median total, and every repeat's total and speed-up (against the same repeat's
    reference) is recorded beside it. A recipe reaches the reference loss when it does so in every repeat. The
    percentage of peak is the training steps' GFLOP/s over the measured matmul peak of the run's precision.
    """
    reference = median_run([runs[0] for runs in repeats])
    rows = []
    for j in range(len(repeats[0])):
        run = median_run([runs[j] for runs in repeats])
        gflops = run.train_gflops
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
            "reaches_reference_loss": all(runs[j].final_test_loss <= runs[0].final_test_loss for runs in repeats),
            "seconds_to_reference_loss": run.seconds_to_reach(reference.final_test_loss),
            "speedup": reference.total_seconds / run.total_seconds,
            "repeats": len(repeats),
            "total_seconds_per_repeat": [runs[j].total_seconds for runs in repeats],
            "speedup_per_repeat": [runs[0].total_seconds / runs[j].total_seconds for runs in repeats],
            "final_test_loss_per_repeat": [runs[j].final_test_loss for runs in repeats],
            "precision": run.precision,
            "train_images_per_epoch": run.train_images,
            "train_seconds": sum(run.train_seconds),
            "train_seconds_per_epoch": run.train_seconds,
            "train_gflops": gflops,
            "percent_of_peak": 100 * gflops / peak[run.precision]["gflops"],
        })
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| recipe | settings changed | epochs | seconds/epoch | total seconds | final test loss | speed-up | "
             "speed-up per repeat | train GFLOP/s | % of peak |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        mark = "" if r["reaches_reference_loss"] else " (above reference)"
        each = ", ".join(f"{x:.2f}" for x in r["speedup_per_repeat"])
        lines.append(f"| {r['recipe']} | {r['settings_changed']} | {r['epochs']} | {r['seconds_per_epoch']:.1f} | "
                     f"{r['total_seconds']:.1f} | {r['final_test_loss']:.2f}{mark} | {r['speedup']:.2f}x | {each} | "
                     f"{r['train_gflops']:.1f} | {r['percent_of_peak']:.0f}% {r['precision']} |")
    return "\n".join(lines)


def peak_line(peak: dict[str, dict[str, Any]], threads: int) -> str:
    sizes = ", ".join(peak["fp32"]["by_size"])
    return (f"Matmul peak at {threads} thread(s) (best of square {sizes}): fp32 {peak['fp32']['gflops']:.0f} GFLOP/s, "
            f"bf16 {peak['bf16']['gflops']:.0f} GFLOP/s. Training FLOPs counted: {flops_per_image():,} per image "
            "(forward and backward matrix products, see step_macs).")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the platform's processor name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads: int) -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "bf16_units": bf16_units(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "device": "cpu",
    }


def fast_steps(row: dict[str, Any]) -> int:
    """Training steps of a run's row: epochs times the batches of an epoch."""
    return row["epochs"] * math.ceil(row["train_images_per_epoch"] / row["settings"]["batch_size"])


def page_block(report: dict[str, Any]) -> str:
    """The performance page's block: the table, the matmul peak and the machine and load it was measured on."""
    machine = report["machine"]
    before, after = report["load_average_before"][0], report["load_average_after"][0]
    return "\n".join([
        markdown_table(report["runs"]), "",
        peak_line(report["matmul_peak"], report["matmul_peak"]["threads"]), "",
        *([compile_line(report["compile"], fast_steps(report["runs"][-1])), ""] if report.get("compile") else []),
        f"Measured {report['date']} with `{report['command']}`: {report['repeats']} repeats, torch {machine['torch']}, "
        f"{machine['cpu_count']} CPU cores ({machine['cpu_model']}; bfloat16 units: "
        f"{', '.join(machine['bf16_units']) or 'none'}), load average "
        f"{before:.2f} before and {after:.2f} after (this script's own {machine['torch_threads']} threads)."])


def write_page(report: dict[str, Any], page: Path = PAGE) -> None:
    """Put `page_block(report)` between the performance page's `train-speed` markers (SystemExit if they are missing)."""
    write_block(page, BLOCK, page_block(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Training speed of the pytorch/examples VAE recipe against vae.train.")
    parser.add_argument("--data-root", help=vae.data.DATA_ROOT_HELP)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"],
                        help="epochs of the reference recipe and of the same-settings run (default 10)")
    parser.add_argument("--fast-epochs", type=int,
                        help=f"epochs of the fast run (default {FAST['epochs']}, or --epochs if smaller)")
    parser.add_argument("--fast-batch-size", type=int, default=FAST["batch_size"])
    parser.add_argument("--fast-lr", type=float, default=FAST["lr"])
    parser.add_argument("--fast-precision", choices=("fp32", "bf16"), default=FAST["precision"],
                        help=f"precision of the fast run's networks (default {FAST['precision']})")
    parser.add_argument("--fast-adam", choices=("default", "fused"), default=FAST["adam_implementation"],
                        help=f"Adam implementation of the fast run (default {FAST['adam_implementation']})")
    parser.add_argument("--fast-lr-warmup-steps", type=int, default=FAST["lr_warmup_steps"],
                        help=f"linear learning-rate warm-up steps of the fast run (default {FAST['lr_warmup_steps']})")
    parser.add_argument("--fast-adam-beta2", type=float, default=FAST["adam_beta2"],
                        help=f"Adam beta2 of the fast run (default {FAST['adam_beta2']})")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                        help="torch CPU threads for every run (default 2)")
    parser.add_argument("--repeats", type=int, help="times to repeat the runs (default 3; 1 with --quick)")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip timing torch.compile (about 30 s; always skipped with --quick)")
    parser.add_argument("--write", action="store_true", help="also put the table into docs/performance.md")
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
    repeats = args.repeats or (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.write and (args.quick or args.train_size or args.test_size):
        parser.error("--write records a full measurement on the performance page; drop --quick, --train-size and --test-size")
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]:.2f}; the machine is busy and the timings will not be representative")

    from torchvision import datasets, transforms  # noqa: F401  (imported before any timing starts)

    warm_up()
    # the limit the runs are measured against (a fraction of a second with --quick)
    peak = matmul_peak((64, 128), repeats=2, seconds=0.005) if args.quick else matmul_peak()
    print(peak_line(peak, args.threads), flush=True)
    fast = fast_config(fast_epochs, args.fast_batch_size, args.fast_lr, train_size=train_size,
                       precision=args.fast_precision, adam_implementation=args.fast_adam,
                       lr_warmup_steps=args.fast_lr_warmup_steps, adam_beta2=args.fast_adam_beta2)
    measured = []
    for repeat in range(1, repeats + 1):
        with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
            work = Path(tmp)
            runs = [run_examples_recipe(args.data_root, epochs, train_size, test_size, work / "examples")]
            if not args.skip_same_settings:
                runs.append(run_package(args.data_root, same_settings_config(epochs, train_size), work / "same", "vae.train",
                                        "in-memory data only", test_size))
            runs.append(run_package(args.data_root, fast, work / "fast", "vae.train, fast", describe_fast(fast), test_size))
        measured.append(runs)
        print(f"repeat {repeat}/{repeats}: " + "; ".join(f"{run.recipe} {run.total_seconds:.1f} s, test loss "
                                                          f"{run.final_test_loss:.2f}" for run in runs), flush=True)

    cost = None if args.quick or args.no_compile else compile_cost(fast)
    rows = summarise(measured, peak)
    load_after = os.getloadavg()
    report = {
        "benchmark": "train_speed",
        "command": "python benchmarks/train_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick or train_size is not None or test_size is not None,
        "repeats": repeats,
        "train_size": train_size or 60000,
        "test_size": test_size or 10000,
        "machine": machine_info(args.threads),
        "load_average_before": load_before,
        "load_average_after": load_after,
        # idle before, and nothing but this script's own threads running at the end
        "timings_representative": load_before[0] <= 0.5 and load_after[0] <= args.threads + 0.5,
        "reference_test_loss": rows[0]["final_test_loss"],
        "flops": {
            "counted": ("matrix products of the MLP 784-400-(2x20), 20-400-784 per training image: forward, and the "
                        "weight and input gradients backward except the first layer's input gradient; FLOPs = 2 x MACs; "
                        "biases, activations, loss and optimizer not counted"),
            "macs_per_image": step_macs(1),
            "flops_per_image": flops_per_image(),
        },
        "matmul_peak": {"threads": args.threads, "sizes": list(peak["fp32"]["by_size"]), **peak},
        "runs": rows,
        "compile": cost,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(rows))
    print("\n" + peak_line(peak, args.threads))
    if cost is not None:
        print(compile_line(cost, fast_steps(rows[-1])))
    if args.write:
        write_page(report)
        print(f"Put the table into {PAGE}")
    fast_row = rows[-1]
    verdict = "reaches" if fast_row["reaches_reference_loss"] else "does NOT reach"
    print(f"\nThe fast run {verdict} the reference test loss ({fast_row['final_test_loss']:.2f} vs "
          f"{rows[0]['final_test_loss']:.2f}) with a {fast_row['speedup']:.2f}x speed-up (median of {repeats}). Wrote {out}")
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
