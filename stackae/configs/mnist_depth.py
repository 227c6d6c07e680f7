"""MNIST depth study (notebook 03): up to 8 hidden layers of 256 units, 500 labels per class.

scripts/depth_study.py takes the first 2, 4, 6, 8 layers and sets every layer's activation (sigmoid, relu).
Pretraining: denoising autoencoders (masking 25%), no activation penalty, 5 epochs per layer on all 50,000
training images, learning rate 0.01 for layer 1 and 0.001 above (at 0.01 every unit of the relu stack's layer 2
died in 5 epochs: docs/RESULTS.md). Fine-tuning: SGD with momentum at one learning rate for every network,
batch 32, 30 epochs, early stopping on the 10,000 validation images.
"""

from stackae.config import base_config


def get_config():
    c = base_config()
    c.name = "mnist_depth"
    c.dataset = "mnist"
    c.valid_fraction = 1 / 6
    c.labels_per_class = 500
    c.seeds = 3
    c.layers = (256,) * 8
    c.pretrain.reconstruction = "auto"
    c.pretrain.noise = "masking"
    c.pretrain.noise_level = 0.25
    c.pretrain.l1_activation = 0.0
    c.pretrain.optimizer = "sgd"
    with c.ignore_type():  # per-layer values, bottom to top
        c.pretrain.learning_rate = (0.01,) + (0.001,) * 7
    c.pretrain.momentum = 0.9
    c.pretrain.batch_size = 128
    c.pretrain.epochs = 5
    c.finetune.optimizer = "sgd"
    c.finetune.learning_rate = 0.03
    c.finetune.momentum = 0.9
    c.finetune.batch_size = 32
    c.finetune.epochs = 30
    c.finetune.patience = 10
    return c
