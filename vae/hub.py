r"""The Hugging Face Hub: `save_pretrained`, `from_pretrained` and `push_to_hub`, as the ecosystem names them.

Every model has the three methods of `huggingface_hub`'s `PyTorchModelHubMixin`
([`HubMixin`][vae.hub.HubMixin], mixed into [`EncoderDecoder`][vae.models.EncoderDecoder]):

```python
import vae
model.save_pretrained("my-vae")                       # my-vae/model.safetensors + config.json
model = vae.from_pretrained("my-vae")                 # a folder: offline
model = vae.from_pretrained("someone/mnist-vae")      # a Hub repo id: downloaded once, then cached
model.push_to_hub("me/mnist-vae")                     # needs a token (`hf auth login`)
```

**The same files as the package.** `save_pretrained` is [`vae.save_model`][vae.save_model]:
`model.safetensors` and `config.json` (the [`ModelConfig`][vae.ModelConfig] as JSON), the files
every model folder, run checkpoint and shipped model holds, so [`vae.load`][vae.load] reads any
folder `save_pretrained` writes and `from_pretrained` reads any model folder. A pushed repo holds the
same files (an exported folder's `metrics.json` and `history.jsonl` too), plus a `README.md` model card.

**Never unpickled.** Only `model.safetensors` is read; a repo's other files (a pickled
`pytorch_model.bin`, say) are not even downloaded.

**No network unless asked.** A folder, a run folder or a shipped model's name is read from disk; only
an argument that is none of these is taken for a Hub repo id and fetched with
`huggingface_hub.snapshot_download` (into its cache, `~/.cache/huggingface`; `HF_HUB_OFFLINE=1` or
`local_files_only=True` reads only that cache). `huggingface_hub` is needed only then:
`pip install "vae-explorer[hub]"`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .models import EncoderDecoder

M = TypeVar("M", bound="HubMixin")

LIBRARY_NAME = "vae-explorer"
MODEL_FILES = ("model.safetensors", "config.json", "metrics.json", "history.jsonl")
"""The only files of a Hub repo that are downloaded and read (no pickle among them)."""
REPO_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as err:
        raise ImportError("the Hugging Face Hub needs the huggingface_hub package: pip install \"vae-explorer[hub]\"") from err
    return huggingface_hub


def _local_folder(name: str | os.PathLike[str]) -> Path | None:
    """The model folder of a local path or shipped name (None: neither, so a repo id)."""
    from .checkpoint import PRETRAINED_DIR, available_models, resolve_model_dir

    path = Path(name).expanduser()
    if path.exists():
        return resolve_model_dir(path)  # a clear CheckpointError for a folder without model.safetensors
    if str(name) in available_models():
        return PRETRAINED_DIR / str(name)
    return None


def download(
    repo_id: str, *, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None, local_files_only: bool = False, force_download: bool = False,
) -> Path:
    """Fetch a Hub repo's model files (only [`MODEL_FILES`][vae.hub.MODEL_FILES]) into the Hub cache; their folder.

    Raises:
        CheckpointError: not a repo id, offline without a cached copy, no such repo or revision, no access,
            or a repo without `model.safetensors`.
    """
    from .checkpoint import WEIGHTS, CheckpointError

    if not REPO_ID.match(repo_id) or repo_id.count("/") > 1:
        raise CheckpointError(f"{repo_id!r} is no model folder, shipped model or Hub repo id (owner/name)")
    hub = _hub()
    errors = hub.errors
    try:
        folder = Path(hub.snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, token=token,
                                            local_files_only=local_files_only, force_download=force_download,
                                            allow_patterns=list(MODEL_FILES), library_name=LIBRARY_NAME))
    except errors.GatedRepoError as err:
        raise CheckpointError(f"the Hub repo {repo_id} is gated: accept its terms on huggingface.co and log in "
                              "(`hf auth login`)") from err
    except errors.RepositoryNotFoundError as err:
        raise CheckpointError(f"no Hub repo {repo_id} (or it is private: log in with `hf auth login`, or pass token=...); "
                              "a local folder of that name does not exist either") from err
    except errors.RevisionNotFoundError as err:
        raise CheckpointError(f"the Hub repo {repo_id} has no revision {revision!r}") from err
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as err:
        raise CheckpointError(f"{repo_id} is not a local folder or shipped model, and the Hub repo of that name is not in "
                              "the Hugging Face cache while offline (HF_HUB_OFFLINE=1 or local_files_only=True). Connect "
                              "once to download it, or pass a model folder") from err
    except (errors.HfHubHTTPError, OSError) as err:
        raise CheckpointError(f"could not download {repo_id} from the Hub ({type(err).__name__}: {err})") from err
    if not (folder / WEIGHTS).is_file():
        raise CheckpointError(f"the Hub repo {repo_id} holds no {WEIGHTS}: this package reads safetensors weights "
                              "saved with save_pretrained or vae.save_model (pickled .bin/.pt files are never loaded)")
    return folder


def from_pretrained(
    name_or_repo_id: str | os.PathLike[str], *, device: str = "cpu", revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None, token: str | bool | None = None, local_files_only: bool = False,
    force_download: bool = False,
) -> EncoderDecoder:
    """A ready model (eval mode) from a model folder, run folder, shipped name or Hugging Face Hub repo id.

    A folder or shipped name is read as [`vae.load`][vae.load] reads it, offline; anything else is a
    repo id whose `model.safetensors` and `config.json` are downloaded once
    ([`download`][vae.hub.download]) and then read from the cache.

    Args:
        name_or_repo_id: `"runs/a"`, `"default"`, or `"owner/name"` on the Hub.
        device: where to put the model.
        revision, cache_dir, token, local_files_only, force_download: as `huggingface_hub.snapshot_download`
            takes them (for a repo id only).

    Raises:
        CheckpointError: missing, damaged or mismatched files, or a repo that cannot be fetched (the message says why).
    """
    from .checkpoint import load

    folder = _local_folder(name_or_repo_id)
    if folder is None:
        folder = download(str(name_or_repo_id), revision=revision, cache_dir=cache_dir, token=token,
                          local_files_only=local_files_only, force_download=force_download)
    return load(folder, device=device)


def model_card(model: EncoderDecoder, repo_id: str | None = None, metrics: dict[str, Any] | None = None) -> str:
    """A Hub model card (`README.md`): metadata the Hub reads, how to load the model, its config and test numbers."""
    import json

    from .config import to_dict

    config = model.config
    name = repo_id or "path/to/folder"
    kind = {"vae": "variational autoencoder", "ae": "autoencoder", "cvae": "conditional variational autoencoder",
            "hvae": "hierarchical variational autoencoder"}.get(config.kind, config.kind)
    lines = [
        "---", f"library_name: {LIBRARY_NAME}", "license: mit",
        "tags:", "- vae-explorer", "- variational-autoencoder", "- pytorch", "- safetensors", "---", "",
        f"# A {kind} ({config.arch}, latent size {config.latent_dim})", "",
        "Trained with vae-explorer (`pip install vae-explorer`). Load it with:", "",
        "```python", "import vae", f'model = vae.from_pretrained("{name}")', "```", "",
        "## Config", "", "```json", json.dumps(to_dict(config), indent=2), "```",
    ]
    evaluation = (metrics or {}).get("evaluation") or {}
    numbers = {k: v for k, v in evaluation.items() if isinstance(v, (int, float)) and k.startswith("test_")}
    if numbers:
        lines += ["", "## Test numbers (nats)", "", "| metric | value |", "| --- | --- |",
                  *[f"| {k} | {v:.2f} |" for k, v in numbers.items()]]
    return "\n".join(lines) + "\n"


def push_to_hub(
    model_or_folder: EncoderDecoder | str | os.PathLike[str], repo_id: str, *, token: str | None = None,
    private: bool | None = None, commit_message: str = "Upload model with vae-explorer", branch: str | None = None,
    create_pr: bool = False,
) -> str:
    """Upload a model (or a model folder, with its metrics.json and history.jsonl) to a Hub repo, created if needed.

    The repo gets the folder's model files ([`MODEL_FILES`][vae.hub.MODEL_FILES]) and a `README.md`
    model card ([`model_card`][vae.hub.model_card]), in one commit.

    Args:
        model_or_folder: a model, an exported model folder or a shipped model's name (a run folder:
            `vae export` it first).
        repo_id: `owner/name` on the Hub.
        token: a Hub token with write access (default: the one `hf auth login` saved).
        private: create the repo private (None: the Hub's default).
        commit_message, branch, create_pr: as `HfApi.upload_folder` takes them.

    Returns:
        The URL of the commit.
    """
    from .checkpoint import STATE, load, load_metrics, save_model

    hub = _hub()
    with tempfile.TemporaryDirectory(prefix="vae-hub-") as tmp:
        staged = Path(tmp)
        card = None
        if isinstance(model_or_folder, (str, os.PathLike)):
            folder = _local_folder(model_or_folder)
            if folder is None:
                raise FileNotFoundError(f"no model folder or shipped model {str(model_or_folder)!r} to push")
            if (folder / STATE).is_file():
                raise ValueError(f"{folder} is a training checkpoint: export the run first (`vae export RUN FOLDER`), "
                                 "then push the folder")
            for name in MODEL_FILES:
                if (folder / name).is_file():
                    shutil.copy2(folder / name, staged / name)
            model, metrics = load(folder), load_metrics(folder)
            card = folder / "README.md" if (folder / "README.md").is_file() else None  # a folder's own card is kept
        else:
            model, metrics = model_or_folder, None
            save_model(model, staged)
        (staged / "README.md").write_text(card.read_text() if card is not None else model_card(model, repo_id, metrics))
        api = hub.HfApi(token=token)
        repo = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
        info = api.upload_folder(repo_id=repo, folder_path=str(staged), repo_type="model", commit_message=commit_message,
                                 revision=branch, create_pr=create_pr)
    return str(getattr(info, "commit_url", info))


_upload = push_to_hub  # for save_pretrained, whose push_to_hub argument hides the function


class HubMixin:
    """`save_pretrained`, `from_pretrained` and `push_to_hub` for a model, as `huggingface_hub.PyTorchModelHubMixin` names them.

    Mixed into [`EncoderDecoder`][vae.models.EncoderDecoder], so every model has them. The files are
    the package's own (module docstring); nothing is pickled or unpickled.
    """

    def save_pretrained(self, save_directory: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None,
                        push_to_hub: bool = False, repo_id: str | None = None, **push_kwargs: Any) -> Path:
        """Write `model.safetensors` and `config.json` (and `metrics.json`) into a folder, as [`vae.save_model`][vae.save_model].

        With `push_to_hub=True`, then upload the folder to `repo_id` (default: the folder's name) with
        [`push_to_hub`][vae.hub.push_to_hub]. Returns the folder.
        """
        from .checkpoint import save_model

        folder = save_model(self, save_directory, metrics)  # type: ignore[arg-type]
        if push_to_hub:
            _upload(folder, repo_id or folder.name, **push_kwargs)
        return folder

    @classmethod
    def from_pretrained(cls: type[M], name_or_repo_id: str | os.PathLike[str], **kwargs: Any) -> M:  # noqa: PYI019 (Python 3.10)
        """The model of a folder, shipped name or Hub repo id ([`from_pretrained`][vae.hub.from_pretrained]), checked to be a `cls`.

        `vae.VAE.from_pretrained(...)` refuses an autoencoder's folder; `vae.EncoderDecoder.from_pretrained`
        takes any model.
        """
        from .checkpoint import CheckpointError

        model = from_pretrained(name_or_repo_id, **kwargs)
        if not isinstance(model, cls):
            raise CheckpointError(f"{name_or_repo_id} holds a {type(model).__name__} ({model.config.kind!r}), not a "
                                  f"{cls.__name__}: load it with vae.from_pretrained")
        return model  # type: ignore[return-value]

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Upload the model's files and a model card to a Hub repo ([`push_to_hub`][vae.hub.push_to_hub]); the commit's URL."""
        return push_to_hub(self, repo_id, **kwargs)  # type: ignore[arg-type]


__all__ = ["LIBRARY_NAME", "MODEL_FILES", "HubMixin", "download", "from_pretrained", "model_card", "push_to_hub"]
