"""Semantic inpainting by latent search (Yeh et al., CVPR 2017): find z so that G(z) fits the known pixels.

For each image y with mask M (1 = known) we minimise over z, with Adam, per sample
    contextual(z) + lambda * prior(z),  contextual = || W * (G(z) - y) ||_1,  prior = log(1 - D(G(z))),
where W are the contextual weights (known pixels near the hole weigh most). Many starting z per image
run as one batch; each start keeps the lowest loss it saw over the steps, and the lowest over the starts wins.
With `average` > 1 the fills of that many best starts are averaged instead: an estimate of the mean of what the
GAN thinks could be in the hole, which scores higher PSNR/SSIM than any one sharp guess but looks softer.
toolkit.inpainting.predict.inpaint then Poisson-blends the fill into the hole (toolkit.inpainting.blend).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from toolkit.errors import InputError
from toolkit.inpainting.dcgan import DCGAN
from toolkit.inpainting.masks import contextual_weights


@dataclass
class SearchSettings:
    steps: int = 1000  # Adam steps on z
    starts: int = 4  # starting z per image, searched together
    learning_rate: float = 0.03
    prior_weight: float = 0.003  # lambda of the prior (realism) loss
    seed: int = 0
    average: int = 1  # fills of this many lowest-loss starts are averaged (1 = the paper's single best)

    def __post_init__(self):
        if not 1 <= self.average <= self.starts:
            raise InputError(f"average={self.average} must be between 1 and starts={self.starts}.")


def value_and_grad(loss: Callable) -> Callable:
    """Compile `z -> (per-sample losses (B,), aux)` into `z -> (losses, aux, d sum(losses) / dz)`.

    The only backend-specific code of the search: Keras 3 has no backend-neutral gradient.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def total(z):
            losses, aux = loss(z)
            return ops.sum(losses), (losses, aux)

        step = jax.jit(jax.value_and_grad(total, has_aux=True))

        def run(z):
            (_, (losses, aux)), grad = step(z)
            return losses, aux, grad

        return run
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def run(z):
            with tf.GradientTape() as tape:
                tape.watch(z)
                losses, aux = loss(z)
            return losses, aux, tape.gradient(losses, z)

        return run
    raise InputError(f"Latent search supports the TensorFlow and JAX backends, not '{backend}'.")


def latent_search(
    gan: DCGAN,
    images: np.ndarray,
    masks: np.ndarray,
    settings: SearchSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best generated images (N, H, W, C) in [0, 1] and their losses (N,) for images in [0, 1] and masks (N, H, W).

    `progress(step, steps)` is called every few steps (for a progress bar).
    """
    settings = settings or SearchSettings()
    n, starts = len(images), settings.starts
    targets = np.repeat(np.asarray(images, np.float32) * 2 - 1, starts, axis=0)
    weights = np.repeat(contextual_weights(masks)[..., None], starts, axis=0)

    def loss(z):
        fake = gan.generator(z, training=False)
        contextual = ops.sum(ops.abs(weights * (fake - targets)), axis=(1, 2, 3))
        prior = -ops.softplus(gan.discriminator(fake, training=False))[:, 0]  # log(1 - sigmoid(logit))
        return contextual + settings.prior_weight * prior, fake

    step = value_and_grad(loss)
    rng = np.random.default_rng(settings.seed)
    z = rng.standard_normal((n * starts, gan.latent_dim)).astype(np.float32)
    m, v = np.zeros_like(z), np.zeros_like(z)
    best_loss = np.full(n * starts, np.inf, np.float32)
    best_fake = np.zeros_like(targets)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, settings.steps + 1):
        losses, fake, grad = (ops.convert_to_numpy(a) for a in step(ops.convert_to_tensor(z)))
        better = losses < best_loss  # the fake belongs to the z before this update
        best_loss[better], best_fake[better] = losses[better], fake[better]
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        z -= settings.learning_rate * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        if progress and (t % 10 == 0 or t == settings.steps):
            progress(t, settings.steps)
    best_loss, best_fake = best_loss.reshape(n, starts), best_fake.reshape(n, starts, *targets.shape[1:])
    chosen, loss = combine_starts(best_fake, best_loss, settings.average)
    return np.clip(chosen * 0.5 + 0.5, 0, 1), loss


def combine_starts(fakes: np.ndarray, losses: np.ndarray, average: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the mean of the `average` lowest-loss fakes and the lowest loss: fakes (N, S, ...), losses (N, S)."""
    best = np.argsort(losses, axis=1, kind="stable")[:, :average]
    picked = np.take_along_axis(fakes, best.reshape(best.shape + (1,) * (fakes.ndim - 2)), axis=1)
    return picked.mean(axis=1), losses.min(axis=1)
