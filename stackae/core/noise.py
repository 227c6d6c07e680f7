"""Input corruption for denoising autoencoders."""

import math

import jax
import jax.numpy as jnp


def bernoulli(key, p, shape):
    """A boolean array, True with probability `p`. When `p` is a multiple of 1/2^k for k in 1, 2, 4, 8 or 16
    (0.75 = 3/4: k = 2), each element compares the fewest such k random bits with p 2^k, exactly, so one 32-bit
    threefry word serves 32/k elements: generating random bits is most of the cost of a mask on a CPU. Any other
    `p`: `jax.random.bernoulli` (a 32-bit uniform per element)."""
    if isinstance(p, (int, float)) and 0 < p < 1:
        for bits in (1, 2, 4, 8, 16):
            threshold = p * 2**bits
            if threshold == int(threshold):
                n, per_word = math.prod(shape), 32 // bits
                words = jax.random.bits(key, (-(-n // per_word),), jnp.uint32)
                fields = (words[:, None] >> (jnp.arange(per_word, dtype=jnp.uint32) * bits)) & (2**bits - 1)
                return (fields.reshape(-1)[:n] < int(threshold)).reshape(shape)
    return jax.random.bernoulli(key, p, shape)


def masking_noise(key, x, level):
    """Set a random fraction `level` of the inputs to zero, no rescaling (Vincent et al. 2010)."""
    keep = bernoulli(key, 1.0 - level, x.shape)
    return jnp.where(keep, x, jnp.zeros_like(x))


def gaussian_noise(key, x, level):
    """Add isotropic Gaussian noise with standard deviation `level`."""
    return x + level * jax.random.normal(key, x.shape, x.dtype)


def salt_and_pepper_noise(key, x, level):
    """Set a random fraction `level` of the inputs to 0 or 1, each with probability 1/2."""
    hit_key, salt_key = jax.random.split(key)
    hit = bernoulli(hit_key, level, x.shape)
    salt = bernoulli(salt_key, 0.5, x.shape).astype(x.dtype)
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
