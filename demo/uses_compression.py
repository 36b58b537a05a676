r"""The Use › Compression tab's endpoints: a test digit from a code of size D by PCA, an autoencoder and a VAE.

[`Compression`][] shows the reconstructions `benchmarks/compression.py --write-demo` stored in
`vae/assets/compression_demo.safetensors` (nothing is computed per request but their cross-entropy),
the recorded curves of `benchmarks/results/compression.json` with the chosen D marked, and the three
methods' 2-D maps of the demo's test digits.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import torch
from safetensors.torch import load_file
from uses_assets import EPS, UseAssets, bce_per_pixel, picture
from widgets import PlotValue, check_choice, check_number, plot_value

CURVE_COLORS = {"PCA": "#4e79a7", "autoencoder": "#f28e2b", "VAE": "#e15759", "chosen D": "#000000"}
COMPRESSION_METHODS = {"pca": "PCA", "ae": "autoencoder", "vae": "VAE"}
MAP_THIN = 2  # the 2-D maps show every 2nd of the 2,000 digits (the same shape at half the payload)


class Compression(UseAssets):
    """The endpoints of the Compression tab (`compress`, `compression_maps`) and the sizes it offers."""

    def compression(self) -> dict[str, torch.Tensor]:
        return self._lazy("compression", lambda: load_file(str(self._asset("compression_demo.safetensors"))))

    def compression_dims(self) -> list[int]:
        return [int(d) for d in self.compression()["dims"]]

    def _curves(self) -> PlotValue:
        def compute() -> PlotValue:
            curves = self._result("compression")["curves"]
            # x is log2 D (a number): Gradio sums the rows of a line plot that share a nominal x, which would hide the marker
            rows = [(math.log2(d), curves[m][str(d)]["bce"], name) for m, name in COMPRESSION_METHODS.items() for d in self.compression_dims()]
            return plot_value({"log2_D": [r[0] for r in rows], "BCE": [r[1] for r in rows], "method": [r[2] for r in rows]}, mark="line")

        return self._lazy("curves", compute)

    def reconstructions(self, pos: int, d: int) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, float]]]:
        """Stored digit `pos` (binarized, (1, 1, 28, 28)) and, per method, its reconstruction from d numbers and its BCE in nats.

        The BCE clamps the probabilities as the benchmark did: PCA's at the eps it chose on validation digits, the networks' at 1e-6.
        """
        t, col = self.compression(), self.compression_dims().index(d)
        curves = self._result("compression")["curves"]
        target = t["inputs"][pos].float().div(255).view(1, 1, 28, 28)
        out = {}
        for m in COMPRESSION_METHODS:
            recon = t[m][col, pos].float().div(255).view(1, 1, 28, 28)
            out[m] = (recon, bce_per_pixel(target, recon, None, curves[m][str(d)].get("eps", EPS)) * target.numel())
        return target, out

    def compress(self, digit: int, which: int, d: int) -> tuple[Any, ...]:
        """A stored test digit, its PCA / autoencoder / VAE reconstructions from a code of size d, the curves and the numbers."""
        t = self.compression()
        digit = check_number(digit, "digit", 0, 9, integer=True)
        which = check_number(which, "example", 1, 10, integer=True)
        d = check_choice(d, "code size D", self.compression_dims())
        positions = torch.nonzero(t["labels"] == digit).flatten()
        if which > positions.numel():
            raise gr.Error(f"example must be from 1 to {positions.numel()} for digit {digit}, not {which}")
        pos = int(positions[which - 1])
        target, recons = self.reconstructions(pos, d)
        result = self._result("compression")
        curves, bits = result["curves"], result["bits"]
        rows = []
        for m, (_, bce) in recons.items():
            r = curves[m][str(d)]
            code = f"{d} numbers" + (f"; rate KL = {r['rate_kl']:.1f} nats = {r['rate_kl'] / math.log(2):.1f} bits on average" if m == "vae" else "")
            rows.append(f"| {COMPRESSION_METHODS[m]} | {bce:.1f} | {r['bce']:.1f} | {code} |")
        base = self._curves()
        marker = {"log2_D": [math.log2(d)] * 2, "BCE": [0.0, max(row[1] for row in base["data"])], "method": ["chosen D"] * 2}  # a vertical line
        plot = {**base, "data": base["data"] + plot_value(marker, "line")["data"]}
        text = "\n".join([
            f"Test digit #{int(t['indices'][pos])} (a {digit}), binarized, from a code of **D = {d}** numbers.", "",
            "| method | this digit: BCE (nats) | test set: mean BCE (nats per digit) | the code |", "| --- | ---: | ---: | --- |", *rows, "",
            (f"As a lossless code, `default` (D = 32) needs **{bits['default_test_nll_bits']:.1f} bits** per binarized test digit "
             f"(its test NLL), against {bits['raw_bits']} raw bits; PNG takes {bits['per_digit_bits']['png']:.0f} and gzip "
             f"{bits['per_digit_bits']['gzip']:.0f} bits for one digit alone."),
        ])
        return picture(target), *(picture(r) for r, _ in recons.values()), plot, text

    def compression_maps(self) -> tuple[PlotValue, PlotValue, PlotValue]:
        """The 2-D codes of PCA, the autoencoder and the VAE of the demo's test digits, coloured by digit."""

        def compute() -> tuple[PlotValue, ...]:
            t = self.compression()
            order = torch.argsort(t["map_labels"], stable=True)[::MAP_THIN]  # digit order: so is the legend
            labels = [str(int(v)) for v in t["map_labels"][order]]
            return tuple(plot_value({"z1": t[f"map_{m}"][order, 0].tolist(), "z2": t[f"map_{m}"][order, 1].tolist(), "digit": labels},
                                    mark="point") for m in COMPRESSION_METHODS)

        return self._lazy("maps", compute)


__all__ = ["COMPRESSION_METHODS", "CURVE_COLORS", "Compression"]
