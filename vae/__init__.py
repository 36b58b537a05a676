"""Variational autoencoders on MNIST: models, objectives, data, training, evaluation and latent tools.

```python
import vae
model = vae.load("default")                 # a shipped model, offline
x = vae.to_mnist("my_digit.png")            # any image -> (1, 28, 28) in [0, 1]
print(model.reconstruct(x[None]).shape)     # torch.Size([1, 1, 28, 28])
```
"""

from .anomaly import anomaly_scores, auroc, roc_curve, threshold_at_fpr
from .checkpoint import CheckpointError, available_models, load, load_metrics, save_model, weights_sha256
from .config import ConfigError, ModelConfig, TrainConfig
from .data import DataError, MNIST, binarize, binarized_test_set, load_mnist, resolve_data_root
from .diagnostics import coarse_modes, gaussian_elbo, optimise_posteriors, posterior_statistics, prior_variance, quadrature_log_px
from .epochs import TrainingDiverged, TrainingProgress
from .estimators import GradientSamples, pathwise_gradient, score_function_gradient
from .evaluation import LikelihoodEstimates, average_loss, evaluate, log_likelihood
from .features import (
    FewLabelResult,
    LinearClassifier,
    balanced_subset,
    few_label_accuracy,
    fit_logistic_regression,
    knn_predict,
    latent_features,
)
from .hierarchical import HierarchicalTerms, HierarchicalVAE
from .hub import from_pretrained
from .impute import ImputationStep, add_noise, check_mask, impute, impute_steps, make_mask, missing_log_likelihood
from .latent import decode_images, lerp, manifold_grid, sample_images, sample_prior, slerp, traverse
from .linear import PCA, PPCA, fit_pca, fit_ppca
from .models import VAE, Autoencoder, EncoderDecoder, NotVariationalError, build_model, num_parameters
from .movie import write_movie
from .objectives import (
    ElboTerms,
    bernoulli_log_likelihood,
    elbo,
    gaussian_kl,
    gaussian_kl_between,
    gaussian_log_density,
    gaussian_log_likelihood,
    iwae_bound,
)
from .optimization import training_loss
from .preprocess import ImageError, to_mnist
from .priors import MixturePrior, StandardNormalPrior, build_prior
from .training import train

__version__ = "0.1.0"

__all__ = [
    "Autoencoder",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "ElboTerms",
    "EncoderDecoder",
    "FewLabelResult",
    "GradientSamples",
    "HierarchicalTerms",
    "HierarchicalVAE",
    "ImageError",
    "ImputationStep",
    "LikelihoodEstimates",
    "LinearClassifier",
    "MNIST",
    "MixturePrior",
    "ModelConfig",
    "NotVariationalError",
    "PCA",
    "PPCA",
    "StandardNormalPrior",
    "TrainConfig",
    "TrainingDiverged",
    "TrainingProgress",
    "VAE",
    "add_noise",
    "anomaly_scores",
    "auroc",
    "available_models",
    "average_loss",
    "balanced_subset",
    "bernoulli_log_likelihood",
    "binarize",
    "binarized_test_set",
    "build_model",
    "build_prior",
    "coarse_modes",
    "check_mask",
    "decode_images",
    "elbo",
    "evaluate",
    "few_label_accuracy",
    "fit_logistic_regression",
    "fit_pca",
    "fit_ppca",
    "from_pretrained",
    "gaussian_elbo",
    "gaussian_kl",
    "gaussian_kl_between",
    "gaussian_log_density",
    "gaussian_log_likelihood",
    "impute",
    "impute_steps",
    "iwae_bound",
    "knn_predict",
    "latent_features",
    "lerp",
    "load",
    "load_metrics",
    "load_mnist",
    "log_likelihood",
    "make_mask",
    "manifold_grid",
    "missing_log_likelihood",
    "num_parameters",
    "optimise_posteriors",
    "pathwise_gradient",
    "posterior_statistics",
    "prior_variance",
    "quadrature_log_px",
    "resolve_data_root",
    "roc_curve",
    "sample_images",
    "sample_prior",
    "save_model",
    "score_function_gradient",
    "slerp",
    "threshold_at_fpr",
    "to_mnist",
    "train",
    "training_loss",
    "traverse",
    "weights_sha256",
    "write_movie",
]
