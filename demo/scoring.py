r"""The anomaly score of an input under a model: its typical range over test digits, and the recorded verdict.

[`Scoring`][] adds to the [`registry.Registry`][] of `handlers.Explorer` the score the demo shows for an
input (negative ELBO for a VAE, reconstruction error for an autoencoder; `vae.log_likelihood`), where
the score of `TYPICAL_DIGITS` shipped test digits lies (cached per model), and the verdict at the
threshold `benchmarks/anomaly.py --write-demo` recorded in `vae/assets/anomaly_verdict.json`, with how
well that score told test digits from other inputs (AUROC per kind). The Reconstruction tab reads a
score with [`Scoring.reading`][]; the Use › Anomaly tab (`uses_anomaly.py`) quotes the same verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from registry import Chosen, Registry

import vae

VERDICT_FILE = Path(vae.__file__).resolve().parent / "assets" / "anomaly_verdict.json"  # benchmarks/anomaly.py --write-demo
SCORE_K = 16  # posterior samples per image for the negative-ELBO estimate (input and test digits alike)
TYPICAL_DIGITS = 1000  # test digits behind the typical range of the score


@dataclass(frozen=True)
class Typical:
    """The anomaly score over shipped test digits: sorted scores and their 5th/50th/95th percentiles."""

    scores: np.ndarray
    low: float
    median: float
    high: float

    def percentile(self, score: float) -> float:
        """Percent of the test digits scoring below `score`."""
        return 100.0 * float(np.searchsorted(self.scores, score)) / len(self.scores)


class Scoring(Registry):
    """The anomaly score of the endpoints of [`handlers.Explorer`][], its typical range per model and the recorded verdict."""

    def typical(self, chosen: Chosen) -> Typical:
        """The anomaly score of `TYPICAL_DIGITS` shipped test digits under a model."""

        def compute() -> Typical:
            images = self.subset()[0][:: max(1, len(self.subset()[0]) // TYPICAL_DIGITS)][:TYPICAL_DIGITS]
            scores = np.sort(self._score(chosen.model, images).numpy())
            return Typical(scores, *(float(np.percentile(scores, q)) for q in (5, 50, 95)))

        return self._cached("typical", compute, chosen.stats)

    def verdict_record(self) -> dict[str, Any]:
        """vae/assets/anomaly_verdict.json (benchmarks/anomaly.py): the model, score, threshold, its false-positive rate, AUROCs."""

        def load() -> dict[str, Any]:
            if not VERDICT_FILE.is_file():
                raise gr.Error(f"{VERDICT_FILE.name} is missing from this installation: run `python benchmarks/anomaly.py --write-demo`")
            return json.loads(VERDICT_FILE.read_text())

        return self._cached("verdict", load)

    def verdict(self, score: float) -> tuple[bool, str]:
        """Anomalous when the score exceeds the recorded threshold; a sentence saying so and at what false-positive rate."""
        v = self.verdict_record()
        flagged = score > v["threshold"]
        side = "above" if flagged else "at or below"
        word = "**unusual: flagged as an anomaly**" if flagged else "**passes as a digit**"
        return flagged, (f"{side} the threshold of {v['threshold']:.1f} nats: {word} (the threshold flags "
                         f"{v['measured_test_fpr']:.1%} of the 10,000 test digits, a false-positive rate of {v['false_positive_rate']:.0%})")

    def _score(self, model: vae.VAE, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO in nats per image (VAE) or reconstruction error -log p(x | z) (autoencoder): (B,)."""
        if model.config.is_variational:
            _, elbo = vae.log_likelihood(model, x, k=SCORE_K, batch_size=100)  # (B,); its own seeded generator: no lock
            return -elbo
        with torch.no_grad():
            return -model.log_px(x, model.decode(model.embed(x)))

    def reading(self, chosen: Chosen, score: float) -> str:
        """The Reconstruction tab's sentence on a score: where it lies among the test digits' (`typical`), and
        for the model the anomaly benchmark measured, the verdict with its evidence."""
        typical = self.typical(chosen)
        what = "negative ELBO" if chosen.model.config.is_variational else "reconstruction error −log p(x|z)"
        rank = typical.percentile(score)
        if score > typical.high:
            verdict = "**unusual** for this model"
        elif score < typical.low:
            verdict = "easier than most test digits for this model (simple shapes such as 1s score lowest)"
        else:
            verdict = "typical of test digits"
        reading = (
            f"**{what}: {score:.1f} nats** — {verdict}: {rank:.0f}% of {len(typical.scores)} shipped test digits score lower "
            f"(their middle 90% lies between {typical.low:.1f} and {typical.high:.1f} nats, median {typical.median:.1f}). "
            "Higher means the model finds the input harder to explain: scribbles, letters or several digits in one picture score high."
        )
        if chosen.name == self.verdict_record()["model"]:  # the model the anomaly benchmark measured
            reading += " " + self.evidence(score)
        return reading

    def evidence(self, score: float) -> str:
        """The verdict at the recorded threshold, with how well this score told test digits from other inputs (AUROC)."""
        v = self.verdict_record()
        kinds = v["kinds"]
        mean = sum(e["auroc"] for e in kinds.values()) / len(kinds)
        best, worst = max(kinds, key=lambda k: kinds[k]["auroc"]), min(kinds, key=lambda k: kinds[k]["auroc"])
        return (f"Verdict: {self.verdict(score)[1]}. Measured on 1,000 inputs of each of {len(kinds)} kinds, this score tells "
                f"test digits from them with a mean AUROC of {mean:.2f} ({best.replace('_', ' ')}: {kinds[best]['auroc']:.2f}; "
                f"{worst.replace('_', ' ')}: {kinds[worst]['auroc']:.2f}, simple inputs get a *higher* likelihood than digits). "
                "The Use › Anomaly tab shows every kind.")


__all__ = ["SCORE_K", "Scoring", "Typical"]
