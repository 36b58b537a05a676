"""The command line: `vae train`, `vae evaluate`, `vae sample`, `vae export`, `vae push`, `vae movie` and `vae data`.

Argument parsing and dispatch only: each command calls the package (training in
[`vae.training`][vae.training], records in [`vae.records`][vae.records] and [`vae.runs`][vae.runs], scores in
[`vae.evaluation`][vae.evaluation], the Hub in [`vae.hub`][vae.hub]). The model and training
options of `vae train` are built from the fields of [`ModelConfig`][vae.ModelConfig] and [`TrainConfig`][vae.TrainConfig] (their types,
allowed values, defaults and help), so a new config field is a new option.

Run `vae <command> --help` (or `python -m vae <command> --help`) for the options.

A command that cannot do what it was asked prints one line, `vae <command>: error: ...`, saying what is wrong
and what to do, and exits with status 2, before it writes anything: options outside their scope (`--iwae-k`
without `--objective iwae`, `--lower-*` without `--kind hvae`, `--digit` of an unconditional model, `--init-from`
with `--resume`), values out of range, a folder a run or an export would overwrite (see
[`check_new_run_folder`][vae.start.check_new_run_folder] and
[`Run.check_export_folder`][vae.runs.Run.check_export_folder]), damaged records, data the model cannot take.
`vae train --resume` of a run that has trained its `--epochs` already says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

if TYPE_CHECKING:
    from .config import ModelConfig


def _add_config_options(group: argparse._ArgumentGroup, cls: type) -> None:
    """One option per command-line field of a config dataclass: its flag, type or choices, help and default."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if not field.metadata.get("cli", True):
            continue
        hint = hints[field.name]
        if get_origin(hint) in (Union, types.UnionType):  # `X | None`: an X, or left out
            hint = next(a for a in get_args(hint) if a is not type(None))
        if get_origin(hint) is Literal:
            kind: dict[str, Any] = {"choices": get_args(hint)}
        elif get_origin(hint) is tuple:
            kind = {"type": get_args(hint)[0], "nargs": "+"}
        else:
            kind = {"type": hint}
        default = field.default
        shown = "" if default is None else f" (default {' '.join(map(str, default)) if isinstance(default, tuple) else default})"
        flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
        group.add_argument(flag, dest=field.name, help=field.metadata["help"] + shown, **kind)


def _config_options(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The config fields given on the command line (lists become tuples)."""
    given = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls) if f.metadata.get("cli", True)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None}


def _positive_int(text: str) -> int:
    """An option's integer >= 1 (argparse turns the error into `vae CMD: error: argument --OPTION: ...`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, not {value}")
    return value


def _add_data_args(p: argparse.ArgumentParser) -> None:
    from .data import DATA_ROOT_HELP

    p.add_argument("--data-root", help=DATA_ROOT_HELP + "; with --dataset images, the image folder")
    p.add_argument("--download", action="store_true",
                   help="download the dataset (MNIST, Fashion-MNIST, KMNIST, EMNIST) into the data root if missing (needs internet)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    p.add_argument("--threads", type=_positive_int, help="CPU threads for torch, >= 1 (default: torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    from .config import ModelConfig, TrainConfig, choices
    from .data import DATA_ROOT_HELP

    parser = argparse.ArgumentParser(prog="vae", description="Train, evaluate and sample variational autoencoders on MNIST.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model, checkpointing every epoch")
    t.add_argument("--out", required=True, help="run folder for checkpoints, history.jsonl and grids")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--init-from", metavar="MODEL",
                   help="fine-tune: start from this saved model's weights and config (model folder, run folder or shipped name)")
    _add_config_options(t.add_argument_group("model (ignored with --resume)"), ModelConfig)
    _add_config_options(t.add_argument_group("optimisation"), TrainConfig)
    t.add_argument("--no-progress", action="store_true", help="no progress bar, one line per epoch (for logs)")
    t.add_argument("--no-grids", action="store_true", help="do not save the per-epoch image grids")
    t.add_argument("--snapshots", action="store_true",
                   help="keep a small per-epoch snapshot (test codes, reconstructions, samples) in RUN/snapshots/ for "
                        "`vae movie`; a run that has them keeps taking them when resumed")
    t.add_argument("--image-size", type=int, metavar="S",
                   help="a new model's images are S x S (default 28); --dataset images converts the folder's images to it "
                        "(conv networks: S divisible by 4)")
    t.add_argument("--tensorboard", action="store_true",
                   help="also write the per-epoch losses, learning rate and image grids as TensorBoard events into the run folder")
    t.add_argument("--log-dir", help="write the TensorBoard events here instead of the run folder (implies --tensorboard)")
    t.add_argument("--dist-timeout", type=float, default=None, metavar="SECONDS",
                   help="under torchrun: seconds a process waits for the others before the job stops with an error "
                        "(default 300)")
    _add_data_args(t)

    e = sub.add_parser("evaluate", help="test (or validation) ELBO and NLL (IWAE bound) of a model")
    e.add_argument("model", help="model folder, run folder or shipped model name")
    e.add_argument("-k", "--k", type=int, default=5000, help="importance samples per image (default 5000)")
    e.add_argument("--split", choices=["test", "val", "train"], default="test",
                   help="test (default): the 10,000 test images; val: the validation split the model's training "
                        "held out (the last --val-size training images); train: the first training images every "
                        "stage trained on (beside val, how much the model overfits)")
    e.add_argument("--test-size", type=int, help="evaluate only the first N images of the split (default all)")
    e.add_argument("--batch-size", type=int, default=10, help="images per batch (default 10)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", help="write the results as JSON here (default: print only)")
    e.add_argument("--no-progress", action="store_true")
    e.add_argument("--dataset", choices=choices(TrainConfig, "dataset"),
                   help="the dataset to score (default: the one the model was trained on, else mnist)")
    _add_data_args(e)

    s = sub.add_parser("sample", help="save a grid of samples from the prior")
    s.add_argument("model", help="model folder, run folder or shipped model name")
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("-n", type=int, default=64, help="number of samples (1-1024)")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--digit", type=int, help="digit to draw (conditional models only)")
    s.add_argument("--seed", type=int, default=0)

    x = sub.add_parser("export", help="copy a run's weights and config into a model folder with metrics.json")
    x.add_argument("run", help="run folder (its checkpoint/ is exported)")
    x.add_argument("dest", help="model folder to write (e.g. vae/pretrained/default)")
    x.add_argument("--evaluation", help="JSON written by `vae evaluate --out` to include in metrics.json")
    x.add_argument("--validation", help="JSON written by `vae evaluate --split val --out`, what the model was chosen on, "
                                        "to include in metrics.json")
    x.add_argument("--force", action="store_true",
                   help="replace the model folder DEST holds (without it only the run's own --init-from model may be "
                        "replaced); a run folder or another non-empty folder is never overwritten")

    pu = sub.add_parser("push", help="upload a model folder to a Hugging Face Hub repo, with a model card",
                        description="Upload an exported model folder (or a shipped model's name) to a Hub model repo, "
                                    "created if needed: its safetensors weights, config.json, metrics.json and history.jsonl "
                                    "and a README.md model card, in one commit. Needs `pip install \"vae-explorer[hub]\"` "
                                    "and a token with write access: `hf auth login`, or $HF_TOKEN.")
    pu.add_argument("folder", help="model folder (a run folder: `vae export` it first) or shipped model name")
    pu.add_argument("repo_id", help="owner/name of the Hub repo")
    pu.add_argument("--private", action="store_true", help="create the repo private (default: the Hub's default)")
    pu.add_argument("--branch", help="branch to commit to (default: main)")
    pu.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing to the branch")
    pu.add_argument("--message", default="Upload model with vae-explorer", help="commit message")

    m = sub.add_parser("movie", help="an animation of a run's training, one frame per epoch, from its snapshots",
                       description="Draw a training movie from the per-epoch snapshots of a `vae train --snapshots` run: "
                                   "the latent map of test digits coloured by digit, the decoded grid (2-D models), "
                                   "reconstructions and samples, with the epoch and its losses on every frame.")
    m.add_argument("run", help="run folder of a `vae train --snapshots` run")
    m.add_argument("--out", required=True, help="the animation to write: .webp or .gif")
    m.add_argument("--frame-ms", type=int, default=400, help="milliseconds per frame (default 400)")
    m.add_argument("--hold-ms", type=int, default=2000, help="milliseconds the last frame shows (default 2000)")
    m.add_argument("--quality", type=int, default=80, help="WebP quality 1-100, 100 lossless (default 80)")

    d = sub.add_parser("data", help="where MNIST is looked for and whether it is there; `vae data download` fetches it",
                       description="Show the data root and whether the four MNIST files are in it (exit status 0 when "
                                   "they are, 1 when not), or fetch them with `vae data download`.")
    d.add_argument("--data-root", help=DATA_ROOT_HELP)
    dsub = d.add_subparsers(dest="data_command", metavar="{download}")
    dl = dsub.add_parser("download", help="fetch MNIST into the data root through torchvision (needs internet) and verify it")
    dl.add_argument("--data-root", default=argparse.SUPPRESS, help=DATA_ROOT_HELP)  # SUPPRESS: keeps one given before `download`
    return parser


def _command_line() -> str:
    return "vae " + shlex.join(sys.argv[1:])


def cmd_train(args: argparse.Namespace) -> int:
    from . import distributed
    from .training import resolve_device

    timeout = distributed.DEFAULT_TIMEOUT_SECONDS if args.dist_timeout is None else args.dist_timeout
    group = distributed.setup(args.device, timeout)  # None unless torchrun started several processes
    try:
        if group is None:
            resolve_device(args.device)  # an unavailable device is refused before anything is written
        return _train(args, group is None or group.is_main)
    finally:
        distributed.teardown()


def _new_model_config(args: argparse.Namespace, model_options: dict[str, Any]) -> ModelConfig:
    """The model a new run trains: the starting model's (`--init-from`, with a learned prior added if asked), or the options'."""
    from .checkpoint import load_config
    from .config import ModelConfig
    from .datasets import num_classes

    if args.image_size is not None or args.dataset not in (None, "mnist"):  # the data's shape and classes
        if args.init_from is None:
            size = 28 if args.image_size is None else args.image_size
            if size < 1:
                raise ValueError(f"--image-size must be a positive number of pixels, not {size}")
            model_options["image_shape"] = (1, size, size)
            model_options["num_classes"] = num_classes(args.dataset or "mnist", args.data_root)
        elif args.image_size is not None:
            raise ValueError("with --init-from the image size is the starting model's; drop --image-size")
    if args.init_from is not None:
        if set(model_options) - {"prior_components"}:
            raise ValueError("with --init-from the model options come from the starting model; drop them "
                             "(only --prior-components may be given, to add a learned prior)")
        return dataclasses.replace(load_config(args.init_from), **model_options)
    model_config = ModelConfig(**model_options)
    if args.decoder_std is not None and not model_config.is_gaussian:
        raise ValueError("--decoder-std is the sigma of a Gaussian decoder: add --likelihood gaussian "
                         "(or gaussian_learned), or drop it")
    lower = [flag for flag, value in (("--lower-latent-dim", args.lower_latent_dim), ("--lower-hidden", args.lower_hidden))
             if value is not None]
    if lower and model_config.kind != "hvae":
        raise ValueError(f"{' and '.join(lower)} size the lower layer of a hierarchical vae: add --kind hvae, or drop "
                         f"{'them' if len(lower) > 1 else 'it'}")
    return model_config


def _train(args: argparse.Namespace, main: bool) -> int:
    """`vae train` in one process (of several under torchrun: only the main one writes and prints)."""
    from .checkpoint import CHECKPOINT_DIR
    from .config import ModelConfig, TrainConfig
    from .datasets import load_dataset
    from .records import Command, Provenance, Resumption, StartRecord
    from .runs import starting_record
    from .start import resume_or_init
    from .training import train, training_splits

    out = Path(args.out)
    model_options, train_options = _config_options(args, ModelConfig), _config_options(args, TrainConfig)
    if args.resume:
        if args.init_from is not None:
            raise ValueError("--resume continues the run in --out from its checkpoint, which holds its weights: drop "
                             "--init-from (it starts a new run from a saved model)")
        start = resume_or_init(out, resume=True, epochs=args.epochs)
        if set(train_options) - {"epochs"} or model_options or args.image_size is not None:
            raise ValueError("with --resume only --epochs may be given; the rest comes from the checkpoint")
        if start.train_config.epochs <= start.epoch:  # nothing to train: not recorded as a resumption
            if main:
                print(f"{out} already trained {start.epoch} epoch{'s' * (start.epoch != 1)}; pass --epochs > {start.epoch} "
                      "to train more")
            return 0
    else:
        model_config = _new_model_config(args, model_options)
        if args.iwae_k is not None and args.iwae_k != TrainConfig.iwae_k and train_options.get("objective") != "iwae":
            raise ValueError("--iwae-k is the number of samples of the IWAE objective: add --objective iwae, or drop it")
        if model_config.is_gaussian:  # a density on gray levels: not trained on binarized digits unless asked (and refused)
            train_options.setdefault("binarize", "none")
        # checked before command.json, the run's record, is written (or overwritten)
        start = resume_or_init(out, model_config, TrainConfig(**train_options), init_from=args.init_from)
    dataset, shape = start.train_config.dataset, start.model_config.image_shape
    train_data = load_dataset(dataset, True, args.data_root, args.download, shape)
    test_data = load_dataset(dataset, False, args.data_root, args.download, shape)
    training_splits(train_data, test_data, start.model_config, start.train_config)  # sizes and labels, before any record
    if main and args.resume:  # record the resume once the data is known to load
        record = Command.load(out)
        dataclasses.replace(record, resumed=(*record.resumed, Resumption(_command_line(), start.epoch))).save(out)
    elif main:  # under torchrun, rank 0 writes the run's records
        out.mkdir(parents=True, exist_ok=True)
        provenance = None if args.init_from is None else Provenance.of(args.init_from)
        if provenance is not None:  # the starting model's record as it is now: its folder may be overwritten before the export
            stages, curve = starting_record(provenance)
            StartRecord(tuple(stages), tuple(curve)).save(out)
        Command(_command_line(), time.strftime("%Y-%m-%d %H:%M:%S"), provenance).save(out)
    _say_distributed(start.train_config, main)
    log_dir = args.log_dir if args.log_dir is not None else (out if args.tensorboard else None)
    history = train(start.model_config, start.train_config, out, train_data, test_data, device=args.device, resume=args.resume,
                    progress=not args.no_progress, epoch_lines=True, grids=not args.no_grids, init_from=args.init_from,
                    snapshots=args.snapshots, log_dir=log_dir)
    if not main:
        return 0
    last = history[-1]
    val = f"val -ELBO {last['val_loss']:.2f}, " if "val_loss" in last else ""
    density = " (a density on gray levels)" if start.model_config.is_gaussian else ""
    print(f"done: {last['epoch']} epochs, {val}test -ELBO {last['test_loss']:.2f} nats{density}, {last['wall_seconds']:.0f} s; "
          f"weights in {out / CHECKPOINT_DIR}")
    return 0


def _say_distributed(config: Any, main: bool) -> None:
    """Under torchrun, state the processes, the global and per-process batch and the learning rate (rank 0 prints)."""
    from . import distributed

    group = distributed.current()
    if group is None or not main:
        return
    n = group.world_size
    print(f"distributed: {n} processes ({group.backend} on {group.device.type}), global batch {config.batch_size} "
          f"(about {config.batch_size / n:g} per process), lr {config.lr:g} for the global batch", flush=True)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import load, resolve_model_dir, weights_sha256
    from .config import save_json
    from .datasets import check_labels, load_dataset, recorded_dataset
    from .evaluation import evaluate, evaluation_images
    from .runs import held_out_size, trained_on_size
    from .training import resolve_device

    for flag, value in (("-k", args.k), ("--test-size", args.test_size), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, not {value}")
    model = load(args.model, device=resolve_device(args.device))
    if not model.config.is_variational:
        raise ValueError("an autoencoder has no ELBO or likelihood to evaluate; evaluate a vae or cvae model")
    dataset, shape = args.dataset or recorded_dataset(args.model), model.config.image_shape
    if args.split == "val":
        val_size = held_out_size(args.model)  # before loading the data: a model without a split is refused at once
        split = load_dataset(dataset, True, args.data_root, args.download, shape).split_off(val_size)[1]
    elif args.split == "train":
        train = load_dataset(dataset, True, args.data_root, args.download, shape)
        split = train.subset(trained_on_size(args.model, len(train)))
    else:
        split = load_dataset(dataset, False, args.data_root, args.download, shape)
    if model.config.is_conditional:
        check_labels(split, model.config.num_classes, dataset)
    if args.test_size is not None:
        split = split.subset(args.test_size)
    images = evaluation_images(model.config, split)  # binarized once (Bernoulli) or gray levels (Gaussian)
    results = evaluate(model, images, split.labels, k=args.k, batch_size=args.batch_size, seed=args.seed, progress=not args.no_progress)
    if args.split != "test":  # the same numbers, named for the images they score
        results = {(f"{args.split}_" + key[5:] if key.startswith("test_") else key): value for key, value in results.items()}
    results = {"model": str(resolve_model_dir(args.model)), "weights_sha256": weights_sha256(args.model), "split": args.split,
               **results, **_data_note(model.config), "command": _command_line()}
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


def cmd_sample(args: argparse.Namespace) -> int:
    import torch
    from torchvision.utils import save_image

    from .checkpoint import load
    from .latent import decode_images, sample_images, sample_prior
    from .models import VAE

    if not 1 <= args.n <= 1024:
        raise ValueError(f"-n must be between 1 and 1024, not {args.n}")
    model = load(args.model)
    y = None
    if model.config.is_conditional:
        if args.digit is None or not 0 <= args.digit < model.config.num_classes:
            raise ValueError(f"a conditional model needs --digit between 0 and {model.config.num_classes - 1}")
        y = torch.full((args.n,), args.digit)
    elif args.digit is not None:
        raise ValueError(f"--digit picks the class of a conditional model's samples; {args.model} is a {model.config.kind} "
                         "model, which draws every class: drop --digit")
    generator = torch.Generator().manual_seed(args.seed)
    if isinstance(model, VAE):  # a hierarchical VAE's samples are ancestral: z2 ~ p(z2), then z1 ~ p(z1 | z2)
        images = sample_images(model, args.n, args.temperature, generator, y)
    else:  # an autoencoder has no prior: codes from N(0, I), which shows what its unorganised space decodes to
        images = decode_images(model, sample_prior(args.n, model.config.latent_dim, args.temperature, generator), y)
    save_image(images, args.out, nrow=int(args.n**0.5 + 0.999))
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .records import read_json
    from .runs import Run

    evaluation = read_json(args.evaluation) if args.evaluation else None
    validation = read_json(args.validation) if args.validation else None
    card = Run.load(args.run).export(args.dest, evaluation, validation, force=args.force)
    print(f"exported {args.run} to {args.dest} ({card.file_bytes / 1e6:.2f} MB)")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .hub import REPO_ID, push_to_hub

    if not REPO_ID.match(args.repo_id) or "/" not in args.repo_id:
        raise ValueError(f"{args.repo_id!r} is not a Hub repo id: give it as owner/name (e.g. me/mnist-vae)")
    try:
        url = push_to_hub(args.folder, args.repo_id, private=True if args.private else None, commit_message=args.message,
                          branch=args.branch, create_pr=args.create_pr)
    except ImportError as err:
        raise ValueError(str(err)) from None
    except FileNotFoundError:
        raise
    except OSError as err:  # the Hub's HTTP errors and a missing network are OSErrors (requests, httpx)
        raise ValueError(f"the upload to {args.repo_id} failed: {err}. Check the network, and that your token "
                         "(`hf auth login` or $HF_TOKEN) may write to the repo") from None
    print(f"pushed {args.folder} to https://huggingface.co/{args.repo_id}: {url}")
    return 0


def cmd_movie(args: argparse.Namespace) -> int:
    from .movie import write_movie

    frames = write_movie(args.run, args.out, args.frame_ms, args.hold_ms, args.quality)
    print(f"wrote {frames} frames to {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB)")
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
    if getattr(args, "threads", None) is not None:
        import torch

        torch.set_num_threads(args.threads)
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .data import DataError
    from .distributed import DistributedError
    from .epochs import TrainingDiverged
    from .tensorboard import TensorBoardMissing

    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "sample": cmd_sample, "export": cmd_export, "push": cmd_push,
                "movie": cmd_movie, "data": cmd_data}
    try:
        return commands[args.command](args)
    except (DataError, CheckpointError, ConfigError, TrainingDiverged, DistributedError, TensorBoardMissing, ValueError,
            OSError) as err:  # OSError: a path that is a file, not writable, missing, or a full disk
        print(f"vae {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vae {args.command}: interrupted; the last completed epoch's checkpoint is kept", file=sys.stderr)
        return 130
