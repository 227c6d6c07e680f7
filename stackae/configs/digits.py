"""Embedded default: scikit-learn digits (8x8), two 256-unit rectifier DAE layers, five seeds trained together (one
seed on 359 test images is an anecdote: its error moves by whole points with float rounding); about a minute on
a 2-core CPU."""

from stackae.config import base_config


def get_config():
    c = base_config()
    c.name = "digits"
    c.dataset = "digits"
    c.layers = (256, 256)
    c.seeds = 5
    c.pretrain.epochs = 30
    c.pretrain.batch_size = 16
    c.pretrain.learning_rate = 0.01
    c.finetune.batch_size = 16
    c.finetune.learning_rate = 0.02
    c.finetune.epochs = 100
    c.finetune.patience = 20
    return c
