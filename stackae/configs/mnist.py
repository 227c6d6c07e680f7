"""MNIST, three 1000-unit rectifier DAE layers (Glorot, Bordes & Bengio 2011; Gulcehre & Bengio 2013).

Layer 1 reconstructs pixels with sigmoid units and cross-entropy; layers 2 and 3 reconstruct the non-negative
rectifier codes with softplus units and squared error ("auto"). Masking noise 25%, L1 activation penalty.
50,000 training / 10,000 validation examples carved from the 60,000 training images.
"""

from stackae.config import base_config


def get_config():
    c = base_config()
    c.name = "mnist"
    c.dataset = "mnist"
    c.valid_fraction = 1 / 6
    c.layers = (1000, 1000, 1000)
    c.pretrain.activation = "relu"
    c.pretrain.reconstruction = "auto"
    c.pretrain.noise = "masking"
    c.pretrain.noise_level = 0.25
    c.pretrain.l1_activation = 1e-4
    c.pretrain.optimizer = "sgd"
    with c.ignore_type():  # per-layer value: at 0.01 the upper layers lose ~90% of their rectifiers
        c.pretrain.learning_rate = (0.01, 0.001, 0.001)
    c.pretrain.momentum = 0.9
    c.pretrain.batch_size = 128
    c.pretrain.epochs = 15
    c.finetune.optimizer = "sgd"
    c.finetune.learning_rate = 0.02
    c.finetune.momentum = 0.9
    c.finetune.schedule = "cosine"
    c.finetune.batch_size = 128
    c.finetune.epochs = 30
    c.finetune.patience = 30
    return c
