"""Live training in the demo's Train tab: time to the first picture, time per update, time to a recognisable map, and
the other tabs' latency while a job trains.

Usage (from the repository root, on an otherwise idle machine):

    python benchmarks/live_training.py [--threads 2] [--calls 20] [--out benchmarks/results/live_training.json]

1. **In process**, the generator the Train button calls (`demo/live.py`, `LiveTrainer.train`) with the tab's
   default settings (the "both" preset: a 2-D VAE, β = 1, 10,000 shipped training images, 20 epochs, seed 0),
   first in a fresh process ("both_cold": it also loads the subsets and the reference model, and torch's first
   optimizer imports ~3 s of modules), then the two other presets and "both" again, warm. Per view: the wall time since the call, the step, the
   training seconds and the map's 5-NN accuracy. Reported: the time to the first picture (the untrained
   network, cold: the first call in the process, which also loads the subsets and the reference model),
   the time to the first trained view, the median time between views, steps per second, the time to a
   **recognisable map** and the cost of drawing one view.

   *Recognisable*: the 5-NN accuracy of the map (test digits 1,000-1,999 of the shipped subset classified
   by their 5 nearest neighbours among digits 0-999, in the first two code dimensions, see
   `demo/live_view.py`) reaches 85 % of the shipped 2-D VAE `latent2d`'s on the same digits. Measured
   at the views (every 200 steps), so the times are upper bounds within one view interval.
2. **Served**: the full app (`demo/app.py`'s `build_app`, with the Train tab added unless the app already
   has a `/train` endpoint) is started in a subprocess with `--threads` torch threads. Four endpoints of
   the other tabs are called `--calls` times each with gradio_client, first with the server idle, then
   while a default run trains; also the time from submitting `/train` to its first update (the first
   picture, through the queue and the network).

Writes the JSON results (with the machine's load average before and after) and prints a summary.
`python benchmarks/live_training.py --serve PORT --threads N` is the server of part 2.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
EXAMPLE = DEMO / "examples" / "3_00018.png"
RECOGNISABLE = 0.85  # of latent2d's 5-NN accuracy
OTHER_ENDPOINTS = {  # api name -> arguments: one call of each of four other tabs
    "/sample": ("default", 36, 1.0, 0),
    "/latent_map": ("latent2d",),
    "/decode_point": ("latent2d", 0.5, -0.5),
    "/reconstruct": (None, "default", 0),  # None: the example digit, uploaded
}


def _demo_modules() -> None:
    if str(DEMO) not in sys.path:
        sys.path.insert(0, str(DEMO))


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


# -- 1. in process -------------------------------------------------------------------------------
def in_process(threads: int, epochs: int | None = None) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    _demo_modules()
    from handlers import Explorer
    from live import PRESETS, SHIPPED, LiveTrainer, Settings
    from live_view import Curves, draw

    trainer = LiveTrainer(Explorer())
    reference = None
    runs: dict[str, Any] = {}
    order = ["both_cold", "reconstruction_only", "kl_only", "both"]  # the first run in the process pays one-time costs
    for i, name in enumerate(order):
        objective, beta, latent = PRESETS[name.removesuffix("_cold")]
        default = Settings()
        settings = trainer.check(objective, beta, latent, SHIPPED, default.images, epochs or default.epochs, default.seed)
        views, started = [], time.perf_counter()
        for view in trainer.views(settings):
            views.append({"wall_s": time.perf_counter() - started, "step": view.step, "train_s": view.seconds,
                          "knn_accuracy": view.knn_accuracy})
            result = view.result
        reference = trainer.reference_accuracy()
        threshold = RECOGNISABLE * reference
        hit = next((v for v in views if v["knn_accuracy"] >= threshold), None)
        gaps = [b["wall_s"] - a["wall_s"] for a, b in itertools.pairwise(views[1:])]  # between trained views
        test = trainer.test_digits()
        costs = []
        with torch.no_grad():
            for _ in range(5):
                t0 = time.perf_counter()
                draw(result.model, settings, test, result.steps, settings.epochs, result.seconds, Curves(), reference, "finished")
                costs.append(time.perf_counter() - t0)
        runs[name] = {
            "settings": {"objective": objective, "beta": beta, "latent_dim": latent, "images": settings.images,
                         "epochs": settings.epochs, "steps": settings.total_steps},
            "cold": i == 0,
            "first_picture_s": views[0]["wall_s"],
            "first_trained_view_s": views[1]["wall_s"] if len(views) > 1 else None,
            "update_interval_median_s": statistics.median(gaps) if gaps else None,
            "steps_per_s": result.steps / result.seconds,
            "train_s": result.seconds,
            "ending": result.ending,
            "final_knn_accuracy": views[-1]["knn_accuracy"],
            "recognisable_train_s": hit["train_s"] if hit else None,
            "recognisable_wall_s": hit["wall_s"] if hit else None,
            "recognisable_step": hit["step"] if hit else None,
            "draw_view_median_ms": 1000 * statistics.median(costs),
            "views": views,
        }
        r = runs[name]
        print(f"{name}: first picture {_s(r['first_picture_s'])}, first trained view {_s(r['first_trained_view_s'])}, "
              f"update every {_s(r['update_interval_median_s'])}, {r['steps_per_s']:.0f} steps/s, recognisable after "
              f"{_s(r['recognisable_train_s'])} of training (step {r['recognisable_step']}); final 5-NN {r['final_knn_accuracy']:.3f}",
              flush=True)
    return {"reference_model": "latent2d", "reference_knn_accuracy": reference, "recognisable_threshold": RECOGNISABLE * reference,
            "runs": runs}


# -- 2. served -----------------------------------------------------------------------------------
def serve(port: int, threads: int) -> None:
    """The full app, with the Train tab added when the app does not have one yet (read-only use of demo/app.py)."""
    import torch

    torch.set_num_threads(threads)
    _demo_modules()
    import app
    import gradio as gr
    from handlers import Explorer
    from live import LiveTrainer
    from tabs.train import train_tab
    from widgets import CSS, offline_theme

    explorer = Explorer()
    demo = app.build_app(explorer)
    if not any(fn.api_name == "train" for fn in demo.fns.values()):
        with demo, gr.Tab("Train"):
            train_tab(LiveTrainer(explorer))
    demo.launch(server_name="127.0.0.1", server_port=port, theme=offline_theme(), css=CSS, show_error=True, mcp_server=False,
                allowed_paths=[str(explorer.examples_dir)])


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": 1000 * statistics.median(ordered), "p95_ms": 1000 * p95, "calls": len(ordered)}


def _latencies(client: Any, calls: int) -> dict[str, dict[str, float]]:
    from gradio_client import handle_file

    out = {}
    for name, args in OTHER_ENDPOINTS.items():
        args = tuple(handle_file(str(EXAMPLE)) if a is None else a for a in args)
        client.predict(*args, api_name=name)  # warm-up: loads the model
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter()
            client.predict(*args, api_name=name)
            samples.append(time.perf_counter() - t0)
        out[name] = _percentiles(samples)
    return out


def served(threads: int, calls: int, epochs: int) -> dict[str, Any]:
    import httpx
    from gradio_client import Client

    sys.path.insert(0, str(ROOT / "tests"))
    from demo_server import free_port

    port = free_port()
    log_path = Path(tempfile.gettempdir()) / "live_training_server.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--threads", str(threads)], stdout=log,
                            stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/gradio_api/info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start; see {log_path}")
            time.sleep(0.3)
        client, trainer_client = Client(url, verbose=False, download_files=False), Client(url, verbose=False, download_files=False)
        idle = _latencies(client, calls)
        firsts = []
        for _ in range(2):  # the first run in the server pays one-time costs (cold), the second does not
            t0 = time.perf_counter()
            job = trainer_client.submit("both (VAE)", 1.0, 2, "shipped subset", 10_000, epochs, 0, api_name="/train")
            while not job.outputs():
                time.sleep(0.01)
            firsts.append(time.perf_counter() - t0)
            if len(firsts) == 1:
                trainer_client.predict(api_name="/stop_training")
                job.result(timeout=120)
        while len(job.outputs()) < 2:  # training proper has started
            time.sleep(0.05)
        during = _latencies(client, calls)
        still_training = not job.done()
        job.result(timeout=300)
        final = job.outputs()[-1][0]
        print(f"served: first picture {firsts[0]:.2f} s (cold), {firsts[1]:.2f} s (warm); calls made while training: {still_training}")
        for name in OTHER_ENDPOINTS:
            print(f"  {name}: p50 {idle[name]['p50_ms']:.0f} ms idle, {during[name]['p50_ms']:.0f} ms while training "
                  f"(p95 {idle[name]['p95_ms']:.0f} / {during[name]['p95_ms']:.0f})")
        return {"first_picture_cold_s": firsts[0], "first_picture_warm_s": firsts[1], "idle": idle, "while_training": during,
                "all_calls_while_training": still_training, "training_status": final}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--calls", type=int, default=20, help="calls per endpoint, idle and while training (default 20)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "live_training.json")
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the tab's default, 20); fewer for a smoke test")
    p.add_argument("--skip-served", action="store_true", help="only the in-process part")
    p.add_argument("--binarize", choices=["none", "dynamic"], help="override the tab's choice (demo/live_run.py BINARIZE) in the "
                   "in-process part, to compare")
    args = p.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.threads)
        return
    import gradio
    import torch

    command = "python benchmarks/live_training.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "command": command.strip(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {"gradio": gradio.__version__, "torch": torch.__version__},
        "load_before": list(os.getloadavg()),
        "recognisable": f"5-NN accuracy of the map >= {RECOGNISABLE:.0%} of latent2d's on the same test digits",
    }
    _demo_modules()
    import live_run

    if args.binarize is not None:
        live_run.BINARIZE = args.binarize
    results["binarize"] = live_run.BINARIZE  # of the in-process runs; the served app uses the tab's
    results["in_process"] = in_process(args.threads, args.epochs)
    if not args.skip_served:
        results["served"] = served(args.threads, args.calls, args.epochs or 20)
    results["load_after"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
