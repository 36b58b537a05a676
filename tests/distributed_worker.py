"""One process of a distributed test run: `python tests/distributed_worker.py SPEC.json` (started by torchrun or by a test).

The spec (JSON) names the data root (a Fashion-MNIST-format dataset the test wrote), the runs to train one after the
other (`out`, `model` and `train` config fields, `resume`), the timeout, and optionally a failure to simulate in one
process at one step (`"kill"`: the process dies at once, as on an out-of-memory kill; `"hang"`: it stops answering).
Each process writes the histories `vae.train` returned to `<results>/rank<R>.json`, outside the run folders.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import torch


def main(spec_path: str) -> int:
    torch.set_num_threads(1)
    import vae
    from vae import distributed
    from vae.config import from_dict
    from vae.datasets import load_dataset

    spec = json.loads(Path(spec_path).read_text())
    train = load_dataset("fashion-mnist", True, spec["data_root"])
    test = load_dataset("fashion-mnist", False, spec["data_root"])
    failure = spec.get("failure")

    def callback(progress: vae.TrainingProgress) -> None:
        group = distributed.current()
        if failure and group is not None and group.rank == failure["rank"] and progress.step == failure["step"]:
            if failure["how"] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(3600)  # "hang": the test ends this process

    results = {}
    with distributed.session("cpu", spec.get("timeout", 60)) as group:
        for run in spec["runs"]:
            history = vae.train(from_dict(vae.ModelConfig, run["model"]), from_dict(vae.TrainConfig, run["train"]), run["out"], train, test,
                                device="cpu", resume=run.get("resume", False), progress=False, grids=False,
                                callback=callback if failure else None, callback_every=1)
            results[run["out"]] = history
        rank = group.rank if group is not None else 0
    Path(spec["results"]).mkdir(parents=True, exist_ok=True)
    (Path(spec["results"]) / f"rank{rank}.json").write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
