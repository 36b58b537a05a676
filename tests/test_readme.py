"""The README's promises: its test command is what CI runs, its code runs, its tables are current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_setup_gives_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = [block.strip() for block in _bash_blocks(setup)]
    assert len(commands) == 2
    demo, tests = commands
    assert "python demo/app.py" in demo and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, "the README's test command must be the line .ci/run runs"


def _section(title: str) -> str:
    return README.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_readme_says_where_mnist_comes_from(monkeypatch) -> None:
    from vae.data import DATA_ROOT_ENV, default_data_root

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    default = "~/" + default_data_root().relative_to(Path.home()).as_posix()  # the one definition, as the README writes it
    setup, train = _section("Set-up"), _section("Train and evaluate")
    for text in (setup, train):
        assert f"`{default}`" in text and f"`${DATA_ROOT_ENV}`" in text and "`vae data download`" in text
    assert "downloads MNIST there once" in setup and "offline" in setup
    assert "`--data-root`, else `$VAE_DATA_ROOT`, else" in train and "`vae data` shows" in train


def test_models_table_note_quotes_current_numbers() -> None:
    """The note under the models table (README and model card): its numbers are the recorded ones."""
    import json

    import vae

    ev = vae.load_metrics("default")["evaluation"]
    speed = json.loads((ROOT / "benchmarks" / "results" / "train_speed.json").read_text())
    fast = next(run for run in speed["runs"] if run["recipe"] == "vae.train, fast")
    card = (ROOT / "docs" / "models.md").read_text()
    for page in (README, card):
        text = " ".join(page.split("<!-- models-table:end -->", 1)[1].split())  # the prose after the table, one line
        assert "lower bound on log p(x)" in text and "−log p(x)" in text
        assert f"{ev['test_nll']:.2f} against {-ev['test_elbo']:.2f} nats for `default`" in text
        assert f"{fast['final_test_loss']:.1f} nats" in text and f"trained for {fast['epochs']} epochs" in text
        assert f"{speed['reference_test_loss']:.1f} of the pytorch/examples recipe" in text
        assert f"{round(ev['test_nll'])}" in text
        assert "gray levels instead of binary digits" in text


def test_python_example_runs(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(image).line([(60, 20), (60, 140)], fill=0, width=14)  # a "1", dark on white
    image.save(tmp_path / "digit.png")
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    namespace: dict[str, object] = {}
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    recon = namespace["recon"]
    assert isinstance(recon, torch.Tensor) and recon.shape == (1, 1, 28, 28)


def test_the_stages_table_shows_the_validation_numbers_a_model_was_chosen_on(monkeypatch) -> None:
    import dataclasses
    import importlib

    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    model_table = importlib.import_module("model_table")
    card = model_table._card("default")
    assert "validation NLL" not in model_table.stages_table("default")  # chosen on test data: no such column
    first = dataclasses.replace(card.stages[0], validation={"split": "val", "val_nll": 86.5, "val_nll_stderr": 0.25, "k": 1000})
    monkeypatch.setattr(model_table, "_card", lambda name: dataclasses.replace(card, stages=(first, *card.stages[1:])))
    rows = model_table.stages_table("default").splitlines()
    assert "| validation NLL after |" in rows[0]
    assert "| 86.50 ± 0.25 (k=1000) |" in rows[2] and "| — |" in rows[3]  # stage 1 was scored on validation, stage 2 not


def test_model_tables_are_generated_from_metrics() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "model_table.py")], capture_output=True, text=True, check=True)
    models, *card_blocks = out.stdout.strip().split("\n\n\n")
    assert len(card_blocks) == 8  # quality, default's stages and references, hierarchical's stages and references, generalization
    # (every model's, and hierarchical's on its three splits), commands
    assert models in README, "README.md: run `python scripts/model_table.py --write`"
    card = (ROOT / "docs" / "models.md").read_text()
    for block in [models, *card_blocks]:
        assert block in card, "docs/models.md: run `python scripts/model_table.py --write`"
