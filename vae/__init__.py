"""Variational autoencoders on MNIST: models, objectives, data, training, evaluation and latent tools.

```python
import vae
model = vae.load("default")                 # a shipped model, offline
x = vae.to_mnist("my_digit.png")            # any image -> (1, 28, 28) in [0, 1]
print(model.reconstruct(x[None]).shape)     # torch.Size([1, 1, 28, 28])
```
"""

from .checkpoint import CheckpointError, available_models, load, load_metrics, save_model
from .config import ConfigError, ModelConfig, TrainConfig
from .data import DataError, MNIST, binarize, binarized_test_set, load_mnist, resolve_data_root
from .estimators import GradientSamples, pathwise_gradient, score_function_gradient
from .evaluate import evaluate, log_likelihood
from .latent import decode_images, lerp, manifold_grid, sample_prior, slerp, traverse
from .models import VAE, Autoencoder, ConditionalVAE, build_model, num_parameters
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
from .preprocess import ImageError, to_mnist
from .priors import MixturePrior, StandardNormalPrior, build_prior
from .train import TrainingDiverged, train

__version__ = "0.1.0"

__all__ = [
    "Autoencoder",
    "CheckpointError",
    "ConditionalVAE",
    "ConfigError",
    "DataError",
    "ElboTerms",
    "GradientSamples",
    "ImageError",
    "MNIST",
    "MixturePrior",
    "ModelConfig",
    "StandardNormalPrior",
    "TrainConfig",
    "TrainingDiverged",
    "VAE",
    "available_models",
    "bernoulli_log_likelihood",
    "binarize",
    "binarized_test_set",
    "build_model",
    "build_prior",
    "decode_images",
    "elbo",
    "evaluate",
    "gaussian_kl",
    "gaussian_kl_between",
    "gaussian_log_density",
    "gaussian_log_likelihood",
    "iwae_bound",
    "lerp",
    "load",
    "load_metrics",
    "load_mnist",
    "log_likelihood",
    "manifold_grid",
    "num_parameters",
    "pathwise_gradient",
    "resolve_data_root",
    "sample_prior",
    "save_model",
    "score_function_gradient",
    "slerp",
    "to_mnist",
    "train",
    "traverse",
]
