"""Glorot, Bordes & Bengio 2011 ("Deep sparse rectifier neural networks"), MNIST: three rectifier layers
pretrained as denoising autoencoders with an L1 activation penalty, with and without pretraining.

Published: 1.20% test error with unsupervised pretraining, 1.43% without; about 83% of the hidden
activations exactly zero. The paper's rectifier DAEs reconstruct the first layer's pixels with sigmoid units and
cross-entropy and the non-negative codes above with softplus units and a squared error, with an L1 penalty of
0.001 on the hidden activations.

Here: 784-1000-1000-1000 rectifiers, tied weights, that reconstruction ("auto"), the L1 penalty of 1e-3 as
published, masking noise 25%. Deviations (the paper chose its learning rates and training length on
validation, and its exact noise and epoch counts are not restated here): SGD with momentum 0.9, batch 128,
learning rate 0.01 for layer 1 and 0.001 above (at 0.01 the upper rectifier layers of stackae/configs/mnist.py
lose most of their units), 15 epochs per layer; fine-tuning by SGD with momentum 0.9, learning rate 0.02 with a
cosine decay over 30 epochs, the best validation epoch kept; 50,000 training / 10,000 validation images carved
from MNIST's 60,000. The random twin (scripts/compare.py) is the same network from He init with the same
fine-tuning. stackae/configs/mnist.py is this recipe with the L1 penalty at 1e-4.
"""

from stackae.configs import mnist


def get_config():
    c = mnist.get_config()
    c.name = "glorot2011_rectifier"
    c.pretrain.l1_activation = 1e-3
    return c
