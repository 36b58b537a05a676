r"""The "Use" tabs' endpoints: repair a damaged digit, compress it, classify it with few labels, flag anomalies.

[`Uses`][] wraps a `handlers.Explorer` (its shipped models, test digits and input checks) and the assets the
benchmarks write for the demo: `vae/assets/pca_mnist.safetensors` (the PCA baseline),
`compression_demo.safetensors` (stored PCA / autoencoder / VAE reconstructions at each code size D),
`few_label_classifiers.safetensors` (logistic regressions on `default`'s latent means) and
`anomaly_verdict.json` (a threshold at a stated false-positive rate, with the AUROC per kind of input), and
the recorded results in `benchmarks/results/*.json`. Everything is loaded on first use and cached, so a
request only runs the model on one digit. All math is the package's: `vae.add_noise`, `vae.make_mask`,
`vae.impute_steps`, `vae.missing_log_likelihood`, `vae.latent_features`, `vae.log_likelihood`.

One module per tab, each a class of its endpoints on the shared loading of `uses_assets.UseAssets`:
`uses_repair.py` (denoise and inpaint, the chains streamed), `uses_compression.py`, `uses_labels.py`
(few labels) and `uses_anomaly.py`. `Uses` combines them; the names the tabs and tests use are
re-exported here.
"""

from __future__ import annotations

from uses_anomaly import Anomalies
from uses_assets import MAX_SEED, bce_per_pixel
from uses_compression import CURVE_COLORS, Compression
from uses_labels import FewLabels
from uses_repair import DAMAGES, DEFAULT_STEPS, MAX_REPAIR_STEPS, SQUARE_SIZES, Damage, Repairs, RepairState, painted_mask


class Uses(Repairs, Compression, FewLabels, Anomalies):
    """The endpoints of the Use tabs; `explorer` supplies the models, the test digits and the input checks.

    `Uses(explorer, assets=ASSETS, results=RESULTS, ood_script=OOD_SCRIPT)`: see `uses_assets.UseAssets`.
    """


__all__ = ["CURVE_COLORS", "DAMAGES", "DEFAULT_STEPS", "MAX_REPAIR_STEPS", "MAX_SEED", "SQUARE_SIZES", "Damage", "RepairState", "Uses",
           "bce_per_pixel", "painted_mask"]
