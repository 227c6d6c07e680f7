"""Input corruption for denoising autoencoders."""

import jax
import jax.numpy as jnp


def masking_noise(key, x, level):
    """Set a random fraction `level` of the inputs to zero, no rescaling (Vincent et al. 2010)."""
    keep = jax.random.bernoulli(key, 1.0 - level, x.shape)
    return jnp.where(keep, x, jnp.zeros_like(x))


def gaussian_noise(key, x, level):
    """Add isotropic Gaussian noise with standard deviation `level`."""
    return x + level * jax.random.normal(key, x.shape, x.dtype)


def salt_and_pepper_noise(key, x, level):
    """Set a random fraction `level` of the inputs to 0 or 1, each with probability 1/2."""
    hit_key, salt_key = jax.random.split(key)
    hit = jax.random.bernoulli(hit_key, level, x.shape)
    salt = jax.random.bernoulli(salt_key, 0.5, x.shape).astype(x.dtype)
    return jnp.where(hit, salt, x)


def no_noise(key, x, level):
    """Leave the input clean (a plain autoencoder)."""
    del key, level
    return x


NOISES = {
    "masking": masking_noise,
    "gaussian": gaussian_noise,
    "salt_and_pepper": salt_and_pepper_noise,
    "none": no_noise,
}


def corrupt(kind: str, key, x, level):
    """Corrupt `x` with the noise called `kind` at `level`."""
    return NOISES[kind](key, x, level)
