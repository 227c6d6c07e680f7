"""Vincent, Larochelle, Lajoie, Bengio & Manzagol 2010 ("Stacked denoising autoencoders", JMLR), SdA-3.

Published (Table 3): MNIST 1.28% ± 0.22 test error; on the Larochelle et al. 2007 benchmarks rect 1.99,
mnist-rot 9.53, bg-rand 10.30, bg-img 16.68, convex 19.06. The paper's SdA-3: three sigmoid layers with tied
weights, masking noise, cross-entropy reconstruction at every layer, a logistic-regression head, fine-tuned by
SGD; the layer width, noise level, learning rates and epoch counts were selected per dataset on validation
(for the Larochelle benchmarks, on their 2,000 validation images).

Here, fixed for every dataset (nothing is selected per dataset): 784-1000-1000-1000 sigmoid, tied, masking
noise 25%, sigmoid cross-entropy reconstruction at every layer (the codes of sigmoid layers are in [0, 1]), no
activation penalty, Glorot init; pretraining SGD with momentum 0.9, batch 128, learning rate 0.01, 15 epochs
per layer; fine-tuning SGD with momentum 0.9, learning rate 0.1 with a cosine decay over 50 epochs, the best
validation epoch kept. MNIST: 50,000 training / 10,000 validation images. On an .amat benchmark, name its files:
--config.dataset=..._train.amat --config.test_data=..._test.amat (its values are already in [0, 1]).
The random twin (scripts/compare.py) starts the same network from Glorot init.
"""

from stackae.config import base_config


def get_config():
    c = base_config()
    c.name = "vincent2010_sda3"
    c.dataset = "mnist"
    c.valid_fraction = 1 / 6
    c.layers = (1000, 1000, 1000)
    c.pretrain.activation = "sigmoid"
    c.pretrain.tied = True
    c.pretrain.init = "glorot"
    c.pretrain.reconstruction = "sigmoid_cross_entropy"
    c.pretrain.noise = "masking"
    c.pretrain.noise_level = 0.25
    c.pretrain.l1_activation = 0.0
    c.pretrain.optimizer = "sgd"
    c.pretrain.learning_rate = 0.01
    c.pretrain.momentum = 0.9
    c.pretrain.batch_size = 128
    c.pretrain.epochs = 15
    c.finetune.optimizer = "sgd"
    c.finetune.learning_rate = 0.1
    c.finetune.momentum = 0.9
    c.finetune.schedule = "cosine"
    c.finetune.batch_size = 128
    c.finetune.epochs = 50
    c.finetune.patience = 50
    c.finetune.random_init = "glorot"
    return c
