"""The Theano deep learning tutorial's stacked denoising autoencoder (deeplearning.net, "Stacked Denoising
Autoencoders (SdA)", SdA.py).

Published: 1.3% test error on MNIST after 585 minutes of pretraining and 444 minutes of fine-tuning on one CPU
core. The tutorial's setup: 784-1000-1000-1000-10, sigmoid units, tied weights, masking corruption 0.1, 0.2 and
0.3 for layers 1-3, cross-entropy reconstruction, 15 pretraining epochs per layer by plain SGD at 0.001 with
minibatches of 1; fine-tuning by plain SGD at 0.1 with minibatches of 1, for up to 1,000 epochs with patience-based
early stopping on 10,000 validation images.

Here the same network, noise, reconstruction, batch sizes and learning rates (plain SGD: momentum 0). Deviations:
stackae's Glorot init (the tutorial draws uniform weights in 4x Glorot's range, the sigmoid variant); fine-tuning for at most
100 epochs with patience 15 (the tutorial's patience rule lengthens training whenever validation improves
enough); 50,000 training / 10,000 validation images, as the tutorial, but carved at random from MNIST's 60,000 (the
tutorial's mnist.pkl.gz keeps the last 10,000 for validation). Expect a long run: every step holds one
example.
"""

from stackae.configs import vincent2010_sda3


def get_config():
    c = vincent2010_sda3.get_config()  # the same sigmoid SdA: 784-1000-1000-1000, tied, cross-entropy, Glorot
    c.name = "theano_sda"
    with c.ignore_type():  # per-layer value, bottom to top
        c.pretrain.noise_level = (0.1, 0.2, 0.3)
    c.pretrain.learning_rate = 0.001
    c.pretrain.momentum = 0.0
    c.pretrain.batch_size = 1
    c.pretrain.epochs = 15
    c.finetune.learning_rate = 0.1
    c.finetune.momentum = 0.0
    c.finetune.schedule = "constant"
    c.finetune.batch_size = 1
    c.finetune.epochs = 100
    c.finetune.patience = 15
    return c
