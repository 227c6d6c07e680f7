"""MNIST deep autoencoder 784-1000-500-250-30 (Hinton & Salakhutdinov 2006), pretrained greedily with this
toolkit's rectifier DAEs instead of RBMs, then unrolled and fine-tuned on reconstruction.

Rectifier layers 1000-500-250 and a linear 30-unit code layer (H&S's top layer is linear too); layer 1
reconstructs pixels with sigmoid cross-entropy, layers 2-4 the rectifier codes with softplus squared error.
The 2-D variant of the paper's figure: --config.layers='(1000,500,250,2)'.
"""

from stackae.config import base_config


def get_config():
    c = base_config()
    c.name = "mnist_autoencoder"
    c.dataset = "mnist"
    c.valid_fraction = 1 / 6
    c.seeds = 3
    c.layers = (1000, 500, 250, 30)
    with c.ignore_type():  # per-layer values, bottom to top
        c.pretrain.activation = ("relu", "relu", "relu", "linear")
        c.pretrain.l1_activation = (1e-4, 1e-4, 1e-4, 0.0)
        c.pretrain.learning_rate = (0.01, 0.001, 0.001, 0.001)
    c.pretrain.reconstruction = "auto"
    c.pretrain.noise = "masking"
    c.pretrain.noise_level = 0.25
    c.pretrain.optimizer = "sgd"
    c.pretrain.momentum = 0.9
    c.pretrain.batch_size = 128
    c.pretrain.epochs = 20
    # Fine-tuning on reconstruction. Rates from a 3-epoch probe of He init on 10,000 training images
    # (validation error): SGD 0.001 best, 0.003 worse, 0.01 diverges; Adam 0.001 better than 0.0003.
    c.autoencoder.optimizer = "sgd"
    c.autoencoder.learning_rate = 0.001
    c.autoencoder.momentum = 0.9
    c.autoencoder.batch_size = 128
    c.autoencoder.epochs = 30
    c.autoencoder.patience = 10
    c.autoencoder.adam_learning_rate = 0.001
    c.finetune.random_init = "he"
    return c
