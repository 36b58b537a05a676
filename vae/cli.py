"""The command line: `vae train`, `vae evaluate`, `vae sample`, `vae export` and `vae data`.

Run `vae <command> --help` (or `python -m vae <command> --help`) for the options.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

START = "start.json"  # in a run folder: the stages and curve of the model an --init-from run began from
DEFAULTS_MODEL = {"kind": "vae", "arch": "mlp", "latent_dim": 20, "hidden": (400,), "channels": 32, "decoder": "mlp"}


def _add_data_args(p: argparse.ArgumentParser) -> None:
    from .data import DATA_ROOT_HELP

    p.add_argument("--data-root", help=DATA_ROOT_HELP)
    p.add_argument("--download", action="store_true", help="download MNIST into the data root if missing (needs internet)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vae", description="Train, evaluate and sample variational autoencoders on MNIST.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model, checkpointing every epoch")
    t.add_argument("--out", required=True, help="run folder for checkpoints, history.jsonl and grids")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--init-from", metavar="MODEL",
                   help="fine-tune: start from this saved model's weights and config (model folder, run folder or shipped name)")
    m = t.add_argument_group("model (ignored with --resume)")
    m.add_argument("--kind", choices=["vae", "ae", "cvae"], help="vae, plain autoencoder or conditional vae (default vae)")
    m.add_argument("--arch", choices=["mlp", "conv"], help="encoder/decoder body (default mlp)")
    m.add_argument("--decoder", choices=["mlp", "conv"], help="decoder body when --arch conv (default mlp)")
    m.add_argument("--latent-dim", type=int, help="latent size D (default 20)")
    m.add_argument("--hidden", type=int, nargs="+", help="hidden layer widths (default 400)")
    m.add_argument("--channels", type=int, help="base channels of the conv layers (default 32)")
    m.add_argument("--prior-components", type=int,
                   help="0: standard normal prior (default); K: a learned mixture of K Gaussians (may be added with --init-from)")
    m.add_argument("--likelihood", choices=["bernoulli", "gaussian", "gaussian_learned"],
                   help="decoder p(x|z): bernoulli on binarized digits (default), gaussian with a fixed --decoder-std "
                        "(the MSE objective, KL weight 2 sigma^2), or gaussian_learned (one learned variance); "
                        "a Gaussian trains on gray levels (--binarize none)")
    m.add_argument("--decoder-std", type=float,
                   help="sigma of a Gaussian decoder (its starting value for gaussian_learned; default 0.1)")
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, help="epochs (default 10; may be raised when resuming)")
    o.add_argument("--batch-size", type=int)
    o.add_argument("--lr", type=float, help="peak learning rate of Adam (default 1e-3)")
    o.add_argument("--lr-schedule", choices=["constant", "cosine"])
    o.add_argument("--min-lr-ratio", type=float, help="final lr / peak lr for the cosine schedule")
    o.add_argument("--beta", type=float, help="KL weight (default 1)")
    o.add_argument("--warmup", type=float, dest="warmup_epochs", help="epochs of linear KL warm-up from 0 to beta")
    o.add_argument("--objective", choices=["elbo", "iwae"])
    o.add_argument("--iwae-k", type=int, help="samples per image for --objective iwae")
    o.add_argument("--iwae-gradient", choices=["reparam", "dreg"],
                   help="gradient estimator for --objective iwae: reparam (default) or dreg (doubly reparameterized)")
    o.add_argument("--binarize", choices=["dynamic", "none"], help="dynamic binarization (default) or gray levels")
    o.add_argument("--seed", type=int)
    o.add_argument("--train-size", type=int, help="use only the first N training images")
    o.add_argument("--val-size", type=int,
                   help="hold out the last N training images as a validation split, never trained on; its loss is "
                        "recorded every epoch (default 0: none). Choose models on it, not on the test set")
    o.add_argument("--grad-clip", type=float)
    o.add_argument("--decoder-dropout", type=float, help="dropout on the MLP decoder's hidden layers while training (default 0)")
    o.add_argument("--prior-lr", type=float, help="peak learning rate of a learned prior (default: --lr)")
    o.add_argument("--precision", choices=["fp32", "bf16"],
                   help="bf16: run the networks in bfloat16 while training, the rest in float32 (default fp32)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    t.add_argument("--no-grids", action="store_true", help="do not save the per-epoch image grids")
    _add_data_args(t)

    e = sub.add_parser("evaluate", help="test (or validation) ELBO and NLL (IWAE bound) of a model")
    e.add_argument("model", help="model folder, run folder or shipped model name")
    e.add_argument("-k", "--k", type=int, default=5000, help="importance samples per image (default 5000)")
    e.add_argument("--split", choices=["test", "val"], default="test",
                   help="test (default): the 10,000 test images; val: the validation split the model's training "
                        "held out (the last --val-size training images)")
    e.add_argument("--test-size", type=int, help="evaluate only the first N images of the split (default all)")
    e.add_argument("--batch-size", type=int, default=10)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", help="write the results as JSON here (default: print only)")
    e.add_argument("--no-progress", action="store_true")
    _add_data_args(e)

    s = sub.add_parser("sample", help="save a grid of samples from the prior")
    s.add_argument("model", help="model folder, run folder or shipped model name")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("-n", type=int, default=64, help="number of samples (1-1024)")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--digit", type=int, help="digit to draw (conditional models)")
    s.add_argument("--seed", type=int, default=0)

    x = sub.add_parser("export", help="copy a run's weights and config into a model folder with metrics.json")
    x.add_argument("run", help="run folder (its checkpoint/ is exported)")
    x.add_argument("dest", help="model folder to write (e.g. vae/pretrained/default)")
    x.add_argument("--evaluation", help="JSON written by `vae evaluate --out` to include in metrics.json")

    from .data import DATA_ROOT_HELP

    d = sub.add_parser("data", help="where MNIST is looked for and whether it is there; `vae data download` fetches it",
                       description="Show the data root and whether the four MNIST files are in it (exit status 0 when "
                                   "they are, 1 when not), or fetch them with `vae data download`.")
    d.add_argument("--data-root", help=DATA_ROOT_HELP)
    dsub = d.add_subparsers(dest="data_command", metavar="{download}")
    dl = dsub.add_parser("download", help="fetch MNIST into the data root through torchvision (needs internet) and verify it")
    dl.add_argument("--data-root", default=argparse.SUPPRESS, help=DATA_ROOT_HELP)  # SUPPRESS: keeps one given before `download`
    return parser


def _model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("kind", "arch", "decoder", "latent_dim", "hidden", "channels", "prior_components", "likelihood", "decoder_std")
    return {k: (tuple(v) if isinstance(v, list) else v) for k in keys if (v := getattr(args, k)) is not None}


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("epochs", "batch_size", "lr", "lr_schedule", "min_lr_ratio", "beta", "warmup_epochs", "objective",
            "iwae_k", "iwae_gradient", "binarize", "seed", "train_size", "val_size", "grad_clip", "decoder_dropout",
            "prior_lr", "precision")
    return {k: v for k in keys if (v := getattr(args, k)) is not None}


def _provenance(model: str) -> dict[str, Any]:
    """Where a fine-tuning run's starting weights came from: the folder and how they were trained."""
    from .checkpoint import load_metrics, resolve_model_dir

    folder = resolve_model_dir(model)
    made = load_metrics(folder)
    command = made.get("training_command")
    if command is None and (folder.parent / "command.json").is_file():  # a run's checkpoint: the run holds its command
        command = json.loads((folder.parent / "command.json").read_text()).get("command")
    path = folder.resolve()
    if path.is_relative_to(Path.cwd()):  # recorded relative to where the command ran, as the command itself is
        path = path.relative_to(Path.cwd())
    return {"model": model, "path": str(path), "training_command": command, "epochs": made.get("epochs", made.get("epoch"))}


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .checkpoint import CHECKPOINT_DIR, CheckpointError, read_checkpoint, recover_checkpoint
    from .config import ModelConfig, TrainConfig, from_dict, save_json
    from .data import load_mnist
    from .train import train

    out = Path(args.out)
    if args.resume:
        folder = recover_checkpoint(out)
        if folder is None:
            raise FileNotFoundError(f"--resume: no checkpoint in {out / CHECKPOINT_DIR}")
        model_config, _, _, state = read_checkpoint(folder)
        saved = from_dict(TrainConfig, state["train_config"])
        if set(_train_overrides(args)) - {"epochs"} or _model_overrides(args):
            raise ValueError("with --resume only --epochs may be given; the rest comes from the checkpoint")
        train_config = TrainConfig(**{**saved.__dict__, **_train_overrides(args)})
    else:
        if args.init_from is not None:
            overrides = _model_overrides(args)
            if set(overrides) - {"prior_components"}:
                raise ValueError("with --init-from the model options come from the starting model; drop them "
                                 "(only --prior-components may be given, to add a learned prior)")
            from .checkpoint import load

            model_config = replace(load(args.init_from).config, **overrides)
        else:
            model_config = ModelConfig(**{**DEFAULTS_MODEL, **_model_overrides(args)})
            if args.decoder_std is not None and not model_config.is_gaussian:
                raise ValueError("--decoder-std is the sigma of a Gaussian decoder: add --likelihood gaussian "
                                 "(or gaussian_learned), or drop it")
        train_options = _train_overrides(args)
        if model_config.is_gaussian:  # a density on gray levels: not trained on binarized digits unless asked (and refused)
            train_options.setdefault("binarize", "none")
        train_config = TrainConfig(**train_options)
        if recover_checkpoint(out) is not None:  # refuse before command.json, the run's record, is overwritten
            raise CheckpointError(f"{out} already holds a checkpoint: pass --resume to continue it, "
                                  "or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        record = {"command": "vae " + shlex.join(sys.argv[1:]), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        if args.init_from is not None:
            record["init_from"] = _provenance(args.init_from)
            # the starting model's stages and curve as they are now: its folder may be overwritten before the export
            stages, curve = _starting_stages(record["init_from"])
            save_json(out / START, {"stages": stages, "curve": curve})
        save_json(out / "command.json", record)
    train_data = load_mnist(True, args.data_root, args.download)
    test_data = load_mnist(False, args.data_root, args.download)
    if args.resume:  # record the resume once the data is known to load
        record = json.loads((out / "command.json").read_text()) if (out / "command.json").is_file() else {}
        record.setdefault("resumed", []).append({"command": "vae " + shlex.join(sys.argv[1:]), "at_epoch": state["epoch"]})
        save_json(out / "command.json", record)
    history = train(model_config, train_config, out, train_data, test_data, device=args.device, resume=args.resume,
                    progress=not args.no_progress, grids=not args.no_grids, init_from=args.init_from)
    last = history[-1]
    val = f"val -ELBO {last['val_loss']:.2f}, " if "val_loss" in last else ""
    density = " (a density on gray levels)" if model_config.is_gaussian else ""
    print(f"done: {last['epoch']} epochs, {val}test -ELBO {last['test_loss']:.2f} nats{density}, {last['wall_seconds']:.0f} s; "
          f"weights in {out / CHECKPOINT_DIR}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import load, resolve_model_dir
    from .config import save_json
    from .data import load_mnist
    from .evaluate import evaluate, evaluation_images
    from .train import resolve_device

    if args.k < 1:
        raise ValueError(f"-k must be >= 1, not {args.k}")
    model = load(args.model, device=resolve_device(args.device))
    if not model.config.is_variational:
        raise ValueError("an autoencoder has no ELBO or likelihood to evaluate; evaluate a vae or cvae model")
    if args.split == "val":
        val_size = _held_out(args.model)  # before loading the data: a model without a split is refused at once
        split = load_mnist(True, args.data_root, args.download).split_off(val_size)[1]
    else:
        split = load_mnist(False, args.data_root, args.download)
    if args.test_size is not None:
        split = split.subset(args.test_size)
    images = evaluation_images(model.config, split)  # binarized once (Bernoulli) or gray levels (Gaussian)
    results = evaluate(model, images, split.labels, k=args.k, batch_size=args.batch_size, seed=args.seed, progress=not args.no_progress)
    if args.split == "val":  # the same numbers, named for the images they score
        results = {("val_" + key[5:] if key.startswith("test_") else key): value for key, value in results.items()}
    results = {"model": str(resolve_model_dir(args.model)), "split": args.split, **results, **_data_note(model.config),
               "command": "vae " + shlex.join(sys.argv[1:])}
    print(json.dumps(results, indent=2))
    if args.out:
        save_json(args.out, results)
    return 0


def _data_note(config: Any) -> dict[str, Any]:
    """What an evaluation's numbers are: a probability of binarized digits, or a density on gray levels."""
    if not config.is_gaussian:
        return {"likelihood": config.likelihood, "data": "binarized once with the fixed seed (a probability of binary images)"}
    return {"likelihood": config.likelihood,
            "data": "gray levels: the NLL is minus a log-density of continuous pixels, not comparable with a "
                    "Bernoulli model's NLL on binarized digits (it can be negative)"}


def _held_out(model: str) -> int:
    """The size of the validation split a model never trained on: the smallest `val_size` of all its training stages.

    A model fine-tuned from another was trained on whatever each stage trained on, so only the last images
    that every stage held out are unseen.
    """
    from .checkpoint import STATE, load_metrics, resolve_model_dir, training_stages
    from .config import read_jsonl

    folder = resolve_model_dir(model)
    if (folder / STATE).is_file():  # a run's checkpoint: the run folder holds its record
        run, state = folder.parent, json.loads((folder / STATE).read_text())
        history = read_jsonl(run / "history.jsonl")
        stages = _stages(run, history, state["train_config"])[0] if history else [{"train_config": state["train_config"]}]
    else:
        stages = training_stages(load_metrics(folder))
    configs = [stage.get("train_config") for stage in stages]
    if not configs or any(not isinstance(c, dict) for c in configs):
        raise ValueError(f"{model} has no record of how it was trained, so which training images it held out is unknown: "
                         "--split val needs a model trained with --val-size (a run folder, or a folder exported from one)")
    sizes = [c.get("val_size", 0) for c in configs]
    if min(sizes) < 1:
        which = "" if len(sizes) == 1 else f" (stage {sizes.index(min(sizes)) + 1} of {len(sizes)})"
        raise ValueError(f"{model} was trained on the whole training set{which}: it has no validation split. "
                         "Train with --val-size N to hold one out, or evaluate it with --split test")
    return min(sizes)


def cmd_sample(args: argparse.Namespace) -> int:
    import torch
    from torchvision.utils import save_image

    from .checkpoint import load
    from .latent import decode_images

    if not 1 <= args.n <= 1024:
        raise ValueError(f"-n must be between 1 and 1024, not {args.n}")
    model = load(args.model)
    y = None
    if model.config.is_conditional:
        if args.digit is None or not 0 <= args.digit < model.config.num_classes:
            raise ValueError(f"a conditional model needs --digit between 0 and {model.config.num_classes - 1}")
        y = torch.full((args.n,), args.digit)
    z = model.prior.sample(args.n, args.temperature, torch.Generator().manual_seed(args.seed))
    save_image(decode_images(model, z, y), args.out, nrow=int(args.n**0.5 + 0.999))
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def _stages(run: Path, history: list[dict[str, Any]], train_config: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training stages behind a run and its whole training curve.

    A run started with `--init-from` continues a saved model: when the starting model's record can
    be found (an exported model folder with `metrics.json` and `history.jsonl`, or a run folder with
    `command.json`, `history.jsonl` and, if it was evaluated, `evaluation.json`), its stages come
    first, and this run's epochs and wall-clock seconds are counted on from where they ended. Each
    history line gets the number of its stage (only when there is more than one). The record is the
    one `vae train` copied into the run's `start.json` when it began (runs from before that file
    existed read the starting folder as it is now).
    """
    commands = json.loads((run / "command.json").read_text()) if (run / "command.json").is_file() else {}
    if (run / START).is_file():
        start = json.loads((run / START).read_text())
        earlier, curve = start["stages"], start["curve"]
    else:
        earlier, curve = _starting_stages(commands.get("init_from"))
    epochs0 = sum(stage["epochs"] for stage in earlier)
    seconds0 = sum(stage["training_seconds"] for stage in earlier)
    marks = {"stage": len(earlier) + 1} if earlier else {}  # a one-stage curve is the run's own history, unchanged
    curve += [{**r, **marks, "epoch": r["epoch"] + epochs0, "wall_seconds": r["wall_seconds"] + seconds0} for r in history]
    this = {"command": commands.get("command"), "resumed": commands.get("resumed", []), "epochs": history[-1]["epoch"],
            "train_config": train_config, "training_seconds": history[-1]["wall_seconds"]}
    return [*earlier, this], curve


def _starting_stages(start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stages and curve of a fine-tuning run's starting model ([], [] when its record is missing)."""
    from .checkpoint import load_metrics, training_stages
    from .config import read_jsonl

    if start is None:
        return [], []
    folder = Path(start["path"])
    if (folder / "state.json").is_file():  # a run's checkpoint: its record is in the run folder
        run = folder.parent
        history = read_jsonl(run / "history.jsonl")
        if not history or not (run / "command.json").is_file():
            return [], []
        state = json.loads((folder / "state.json").read_text())
        stages, curve = _stages(run, history, state["train_config"])
        if (run / "evaluation.json").is_file():  # written by `vae evaluate RUN --out RUN/evaluation.json`
            stages[-1]["evaluation"] = json.loads((run / "evaluation.json").read_text())
    else:  # an exported model folder
        curve = read_jsonl(folder / "history.jsonl")
        stages = training_stages(load_metrics(folder))
    if not stages or not curve:
        return [], []
    return stages, [{"stage": 1, **r} for r in curve]  # a one-stage curve is stage 1


def cmd_export(args: argparse.Namespace) -> int:
    from .checkpoint import load, load_metrics, resolve_model_dir, save_model
    from .models import num_parameters

    run = Path(args.run)
    model = load(run)
    folder = resolve_model_dir(run)
    state = json.loads((folder / "state.json").read_text())
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
    commands = json.loads((run / "command.json").read_text()) if (run / "command.json").is_file() else {}
    stages, curve = _stages(run, history, state["train_config"])
    metrics: dict[str, Any] = {
        "training_command": commands.get("command"),
        "resumed": commands.get("resumed", []),
        **({"init_from": commands["init_from"]} if "init_from" in commands else {}),
        "epochs": sum(stage["epochs"] for stage in stages),  # all stages: a fine-tuned model counts its start
        "train_config": state["train_config"],
        "parameters": num_parameters(model),
        "training_seconds": sum(stage["training_seconds"] for stage in stages),
        **({"stages": stages} if len(stages) > 1 else {}),
        "last_epoch": load_metrics(run),
    }
    if args.evaluation:
        metrics["evaluation"] = json.loads(Path(args.evaluation).read_text())
        if metrics["evaluation"].get("split", "test") != "test":
            raise ValueError(f"{args.evaluation} scores the {metrics['evaluation']['split']} split: a model folder records "
                             "its test numbers (choose models on the validation split, then run `vae evaluate` on the test "
                             "split once and export with that file)")
        if "stages" in metrics:
            metrics["stages"][-1]["evaluation"] = metrics["evaluation"]
    dest = save_model(model, args.dest, metrics)
    # the training curve, for the model card (a fine-tuned model's starts with its starting model's)
    (dest / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in curve))
    size = (dest / "model.safetensors").stat().st_size
    metrics["file_bytes"] = size
    save_model(model, dest, metrics)
    print(f"exported {run} to {dest} ({size / 1e6:.2f} MB)")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    import os

    from .data import DATA_ROOT_ENV, RAW_FILES, default_data_root, download_mnist, raw_file_problems, resolve_data_root

    root = resolve_data_root(args.data_root).absolute()
    if args.data_root is not None:
        source = "--data-root"
    elif os.environ.get(DATA_ROOT_ENV):
        source = f"${DATA_ROOT_ENV}"
    else:
        source = f"the default, the per-user cache (set {DATA_ROOT_ENV} or pass --data-root to change it)"
    if args.data_command == "download":
        print(f"fetching MNIST into {root} (from {source})", flush=True)
        download_mnist(root)
        print(f"MNIST is in {root / 'MNIST' / 'raw'}: 60,000 training and 10,000 test images, verified")
        if args.data_root is not None and root != default_data_root().absolute():
            print(f"commands find it with --data-root {root} (or: export {DATA_ROOT_ENV}={root})")
        return 0
    problems = raw_file_problems(root)
    print(f"data root: {root}\n  from {source}")
    for name in RAW_FILES:
        print(f"  MNIST/raw/{name}: {problems.get(name, 'ok')}")
    if problems:
        print("MNIST is not there: run `vae data download` to fetch it (needs internet), or point --data-root "
              f"(or {DATA_ROOT_ENV}) at a folder that holds MNIST/raw/")
        return 1
    print("MNIST is there")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vae` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .data import DataError
    from .train import TrainingDiverged

    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "sample": cmd_sample, "export": cmd_export, "data": cmd_data}
    try:
        return commands[args.command](args)
    except (DataError, CheckpointError, ConfigError, TrainingDiverged, ValueError, FileNotFoundError) as err:
        print(f"vae {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vae {args.command}: interrupted; the last completed epoch's checkpoint is kept", file=sys.stderr)
        return 130
