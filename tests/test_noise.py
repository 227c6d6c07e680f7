import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stackae.core.noise import bernoulli, corrupt, gaussian_noise, masking_noise, salt_and_pepper_noise


@pytest.mark.parametrize("level", [0.1, 0.25, 0.5])
def test_masking_zeroes_the_asked_fraction_without_rescaling(level):
    x = jnp.full((400, 1000), 0.7, jnp.float32)
    y = np.asarray(masking_noise(jax.random.key(0), x, level))
    zero_fraction = np.mean(y == 0)
    assert abs(zero_fraction - level) < 0.005
    assert np.all((y == 0) | (y == np.float32(0.7)))  # survivors are untouched, not rescaled by 1/(1-level)


def test_masking_level_zero_is_identity():
    x = jax.random.uniform(jax.random.key(1), (50, 30))
    assert np.array_equal(masking_noise(jax.random.key(0), x, 0.0), x)


def test_salt_and_pepper_sets_fraction_to_zero_or_one_evenly():
    x = jnp.full((400, 1000), 0.5, jnp.float32)
    y = np.asarray(salt_and_pepper_noise(jax.random.key(0), x, 0.3))
    hit = y != 0.5
    assert abs(hit.mean() - 0.3) < 0.005
    assert set(np.unique(y[hit])) <= {0.0, 1.0}
    assert abs(np.mean(y[hit] == 1.0) - 0.5) < 0.01


def test_gaussian_noise_has_the_asked_std():
    x = jnp.zeros((500, 1000))
    y = np.asarray(gaussian_noise(jax.random.key(0), x, 0.2))
    assert abs(y.std() - 0.2) < 0.002 and abs(y.mean()) < 0.002


def test_corrupt_dispatches_by_name_and_none_is_clean():
    x = jax.random.uniform(jax.random.key(1), (20, 10))
    assert np.array_equal(corrupt("none", jax.random.key(0), x, 0.5), x)
    assert np.array_equal(corrupt("masking", jax.random.key(0), x, 0.5), masking_noise(jax.random.key(0), x, 0.5))


@pytest.mark.parametrize("p", [0.75, 0.5, 5 / 16, 37 / 256, 12345 / 65536, 0.9])  # 2, 1, 4, 8, 16 bits; 32-bit uniform
def test_bernoulli_is_true_with_probability_p_independently(p):
    shape = (301, 997)  # not a multiple of 4 elements: the last random word is cut
    keep = np.asarray(bernoulli(jax.random.key(3), p, shape))
    assert keep.shape == shape and keep.dtype == bool
    assert abs(keep.mean() - p) < 0.004
    flat = keep.reshape(-1)
    for lag in (1, 16, 32):  # elements sharing a random word in the packed paths, and the next word's
        assert abs(np.mean(flat[:-lag] & flat[lag:]) - p * p) < 0.004
    assert not np.array_equal(keep, np.asarray(bernoulli(jax.random.key(4), p, shape)))


def test_bernoulli_extremes():
    assert not np.asarray(bernoulli(jax.random.key(0), 0.0, (5, 7))).any()
    assert np.asarray(bernoulli(jax.random.key(0), 1.0, (5, 7))).all()
