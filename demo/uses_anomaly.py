r"""The Use › Anomaly tab's endpoints: an input's anomaly score under `default`, the verdict and its evidence.

[`Anomalies`][] scores an uploaded image, or an out-of-distribution input made by
`benchmarks/ood_inputs.py` as the benchmark made them, by minus the k-sample ELBO (`vae.log_likelihood`),
gives the verdict at the threshold recorded in `vae/assets/anomaly_verdict.json` (through
`scoring.Scoring`, the same as the Reconstruction tab's) and the AUROC of every kind of input.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import gradio as gr
import numpy as np
import torch
from uses_assets import MAX_SEED, MODEL, UseAssets, picture
from widgets import check_choice, check_number

import vae


class Anomalies(UseAssets):
    """The endpoints of the Anomaly tab (`anomaly_score`, `anomaly_example`) and the kinds of input it offers."""

    def verdict_record(self) -> dict[str, Any]:
        return self.explorer.verdict_record()

    def verdict(self, score: float) -> tuple[bool, str]:
        """Anomalous when the score exceeds the recorded threshold (`handlers.Explorer.verdict`); a sentence saying so."""
        return self.explorer.verdict(score)

    def ood(self) -> Any:
        """benchmarks/ood_inputs.py, the generator of the benchmark's out-of-distribution inputs, and its font list."""

        def load() -> Any:
            if not self.ood_script.is_file():
                raise gr.Error("the out-of-distribution generator benchmarks/ood_inputs.py is not in this installation; score your own image instead")
            spec = importlib.util.spec_from_file_location("ood_inputs", self.ood_script)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module, module.font_files()

        return self._lazy("ood", load)

    def ood_kinds(self) -> list[str]:
        return list(self.verdict_record()["kinds"])

    def anomaly_score(self, image: Any) -> tuple[np.ndarray, float, str]:
        """An image as the model sees it, its anomaly score (negative ELBO, nats) and the verdict with the evidence."""
        return self._anomaly(self.explorer._digit(image, "image")[None], None)

    def anomaly_example(self, kind: str, seed: int) -> tuple[np.ndarray, float, str]:
        """The same for a generated out-of-distribution input of one kind (benchmarks/ood_inputs.py), as the benchmark scored them."""
        check_choice(kind, "kind", self.ood_kinds())
        seed = check_number(seed, "seed", 0, MAX_SEED, integer=True)
        module, fonts = self.ood()
        x = module.make_ood(kind, 1, seed, digits=self.explorer.subset()[0], fonts=fonts)  # (1, 1, 28, 28), not re-centred
        return self._anomaly(x, kind)

    def score(self, x: torch.Tensor) -> float:
        """The recorded call: minus the k-sample ELBO estimate of the gray-level image, nats (higher = more unusual)."""
        v = self.verdict_record()
        return -vae.log_likelihood(self.model(), x, k=int(v["k"]), batch_size=100)[1].item()

    def _anomaly(self, x: torch.Tensor, kind: str | None) -> tuple[np.ndarray, float, str]:
        v = self.verdict_record()
        score = self.score(x)
        typical = self.explorer.typical(self.explorer.resolve(MODEL, None, (MODEL,)))  # the same score of 1,000 shipped test digits
        _, said = self.verdict(score)
        rows = [(f"| **{k.replace('_', ' ')}** | **{e['auroc']:.3f}** | **{e['detected']:.1%}** |" if k == kind else
                 f"| {k.replace('_', ' ')} | {e['auroc']:.3f} | {e['detected']:.1%} |") for k, e in v["kinds"].items()]
        text = "\n".join([
            f"**Negative ELBO: {score:.1f} nats**, {said}. {typical.percentile(score):.0f}% of {len(typical.scores):,} shipped test digits score lower.", "",
            (f"The score is minus a {v['k']}-sample estimate of the ELBO of the gray-level image as the model sees it: roughly how many "
             "nats the model needs to explain it. Higher means harder to explain; it is not a probability of being an anomaly. How well "
             "it tells test digits from 1,000 inputs of each kind (benchmarks/anomaly.py; AUROC 0.5 is chance, below 0.5 the score "
             "points the wrong way):"), "",
            "| kind of input | AUROC | flagged at this threshold |", "| --- | ---: | ---: |", *rows, "",
            ("Known failures: **simple inputs get a high likelihood** (a blank or near-blank image needs few nats, so it scores *lower* "
             "than digits: Nalisnick et al., 2019), and digit-like inputs (the letters O, l, S, Z; a 0, 1 or 8 turned upside down) are "
             "hard for any score of one image."),
        ])
        return picture(x), round(score, 3), text


__all__ = ["Anomalies"]
