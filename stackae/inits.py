"""Weight initialisations for random-init baselines and autoencoder layers, by name."""

from jax.nn import initializers

INITS = {
    "glorot": initializers.glorot_uniform(),  # Glorot & Bengio 2010, uniform
    "he": initializers.he_normal(),  # He et al. 2015, fan-in, normal
    "lecun": initializers.lecun_normal(),
}


def kernel_init(name: str):
    """The kernel initializer called `name`."""
    return INITS[name]
