"""MNIST autoencoder 784-128-64-2 (notebook 04): which hidden, code and output units work, trained with Adam.

scripts/autoencoder_units.py sets the units of each grid cell (mirrored decoders, random init, no penalty). The
recipe cells keep the settings below: rectifier layers 128-64 with an L1 activation penalty, a linear 2-unit code,
sigmoid cross-entropy for the pixels, softplus reconstruction of the rectifier codes, greedy pretraining.
"""

from stackae.config import base_config


def get_config():
    c = base_config()
    c.name = "mnist_autoencoder_units"
    c.dataset = "mnist"
    c.valid_fraction = 1 / 6
    c.seeds = 3
    c.layers = (128, 64, 2)
    with c.ignore_type():  # per-layer values, bottom to top
        c.pretrain.activation = ("relu", "relu", "linear")
        c.pretrain.l1_activation = (1e-4, 1e-4, 0.0)
        c.pretrain.learning_rate = (0.01, 0.001, 0.001)
    c.pretrain.reconstruction = "auto"
    c.pretrain.noise = "masking"
    c.pretrain.noise_level = 0.25
    c.pretrain.optimizer = "sgd"
    c.pretrain.momentum = 0.9
    c.pretrain.batch_size = 128
    c.pretrain.epochs = 5
    c.autoencoder.optimizer = "adam"
    c.autoencoder.learning_rate = 0.001
    c.autoencoder.batch_size = 128
    c.autoencoder.epochs = 10
    c.autoencoder.patience = 10
    return c
