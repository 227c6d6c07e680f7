"""Embedded default: scikit-learn digits (8x8), two 256-unit rectifier DAE layers; runs in about a minute on a CPU."""

from stackae.config import base_config


def get_config():
    c = base_config()
    c.name = "digits"
    c.dataset = "digits"
    c.layers = (256, 256)
    c.pretrain.epochs = 30
    c.pretrain.batch_size = 16
    c.pretrain.learning_rate = 0.01
    c.finetune.batch_size = 16
    c.finetune.learning_rate = 0.02
    c.finetune.epochs = 100
    c.finetune.patience = 20
    return c
