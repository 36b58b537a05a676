r"""The Use › Few labels tab's endpoint: a digit classified from the VAE's codes and from raw pixels, with few labels.

[`FewLabels`][] reads the logistic regressions `benchmarks/few_labels.py --write-demo` fitted on
`default`'s latent means and on raw pixels (`vae/assets/few_label_classifiers.safetensors`; never
fitted here), classifies a digit with both (`vae.latent_features`), and quotes the accuracies that
benchmark recorded for every feature set (`benchmarks/results/few_labels.json`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from uses_assets import UseAssets, picture
from widgets import check_choice

import vae

FEATURE_ROWS = ("default latent means", "PCA 32", "latent2d latent means", "PCA 2", "raw pixels")


class FewLabels(UseAssets):
    """The endpoint of the Few labels tab (`classify`) and the label budgets it offers."""

    def label_budgets(self) -> list[int]:
        def read() -> list[int]:
            with safe_open(str(self._asset("few_label_classifiers.safetensors")), "pt") as f:
                return sorted({int(k.split(".")[0].removeprefix("n")) for k in f.keys() if k.startswith("n")})  # noqa: SIM118 - not a dict

        return self._lazy("budgets", read)

    def classifiers(self, n: int) -> tuple[vae.LinearClassifier, vae.LinearClassifier]:
        """The shipped classifiers for n labels: one on `default`'s latent means, one on raw pixels.

        Both were fitted by `benchmarks/few_labels.py --write-demo` (the first draw of n labelled digits, the
        weight decay chosen on validation) and are read from the asset, never fitted here.
        """
        stored = self._lazy("few_labels", lambda: load_file(str(self._asset("few_label_classifiers.safetensors"))))
        fields = ("weight", "bias", "shift", "scale")
        if f"pixels.n{n}.weight" not in stored:
            raise gr.Error("the raw-pixel classifiers are missing from vae/assets/few_label_classifiers.safetensors: "
                           "run `python benchmarks/few_labels.py --write-demo`")
        codes = vae.LinearClassifier(*(stored[f"n{n}.{f}"] for f in fields))
        return codes, vae.LinearClassifier(*(stored[f"pixels.n{n}.{f}"] for f in fields))

    def subset_accuracy(self, n: int) -> tuple[float, float]:
        """Accuracy of the two classifiers of `classifiers(n)` on the demo's 2,000 shipped test digits."""

        def compute() -> tuple[float, float]:
            images, labels = self.explorer.subset()
            codes, pixels = self.classifiers(n)
            features = self._lazy("subset codes", lambda: vae.latent_features(self.model(), images))
            return tuple((c.predict(f) == labels).double().mean().item() for c, f in ((codes, features), (pixels, images.flatten(1))))

        return self._lazy(f"subset accuracy/{n}", compute)

    def recorded_accuracy(self, n: int) -> dict[str, dict[str, float]]:
        """From few_labels.json: per feature set, logistic and k-NN mean and std over the draws; the shipped classifier's own."""
        result = self._result("few_labels")["results"]
        out = {name: {f"{c}_{s}": result[name][c][str(n)][s] for c in ("logistic", "knn") for s in ("mean", "std")}
               for name in FEATURE_ROWS if name in result}
        for name in ("default latent means", "raw pixels"):
            out[name]["shipped"] = result[name]["logistic"][str(n)]["demo_classifier_accuracy"]
        return out

    def classify(self, image: Any, n: int) -> tuple[np.ndarray, dict[str, float], dict[str, float], str]:
        """The digit as seen, the class probabilities from VAE codes and from raw pixels, and the measured accuracies."""
        n = check_choice(n, "number of labels", self.label_budgets())
        x = self.explorer._digit(image, "digit")[None]  # (1, 1, 28, 28)
        codes, pixels = self.classifiers(n)
        p_codes = torch.softmax(codes.logits(vae.latent_features(self.model(), x)), 1)[0]  # (10,)
        p_pixels = torch.softmax(pixels.logits(x.flatten(1)), 1)[0]
        acc, (live_codes, live_pixels) = self.recorded_accuracy(n), self.subset_accuracy(n)
        draws = self._result("few_labels")["draws"]
        ref = self._result("few_labels")["reference"]
        rows = [f"| {name} | {100 * r['logistic_mean']:.1f} ± {100 * r['logistic_std']:.1f} | {100 * r['knn_mean']:.1f} ± {100 * r['knn_std']:.1f} |"
                for name, r in acc.items()]
        text = "\n".join([
            f"VAE codes say **{int(p_codes.argmax())}** ({p_codes.max():.0%}); raw pixels say **{int(p_pixels.argmax())}** ({p_pixels.max():.0%}).", "",
            f"Test accuracy (%) with **{n} labels**, mean ± std over {draws} balanced draws (benchmarks/few_labels.py):", "",
            "| features | logistic regression | k-NN |", "| --- | ---: | ---: |", *rows, "",
            (f"The classifiers used here (draw 0) on the 10,000 test digits: VAE codes **{100 * acc['default latent means']['shipped']:.2f}%**, "
             f"raw pixels **{100 * acc['raw pixels']['shipped']:.2f}%**; on the demo's 2,000 test digits: VAE codes {100 * live_codes:.1f}%, "
             f"raw pixels {100 * live_pixels:.1f}%. Reference: "
             f"{ref['method']}, {100 * ref['accuracy']:.2f}% with {ref['n_labels']} labels (Kingma et al., 2014)."),
        ])
        labels = [str(i) for i in range(10)]
        return picture(x), dict(zip(labels, p_codes.tolist())), dict(zip(labels, p_pixels.tolist())), text


__all__ = ["FEATURE_ROWS", "FewLabels"]
