"""MNIST deep belief network 784-500-500-2000 (Hinton, Osindero & Teh 2006), pretrained greedily as RBMs and
fine-tuned discriminatively with backpropagation under a softmax head (Hinton & Salakhutdinov 2006, whose
mnistclassify.m fine-tunes the same network by backpropagation: 1.2% test error; the 2006 DBN with its
up-down fine-tuning: 1.25%).

Pretraining as Hinton's rbm.m and practical guide (2010): Bernoulli-Bernoulli RBMs (pixel intensities as the
visible probabilities; each RBM's hidden probabilities are the next one's data), CD-1, minibatches of 100,
learning rate 0.1 on the mean gradient, momentum 0.9, weight decay 0.0002 on the weights (pretrain.l2_weight
= 0.0001: the penalty l2 * sum w^2 has gradient 0.0002 w), weights drawn from N(0, 0.01^2), 50 epochs per layer.
Deviations: momentum 0.9 from the first epoch (rbm.m uses 0.5 for its first 5 epochs; add
--config.pretrain.momentum_warmup_epochs=5 for that, not how the recorded results ran); zero initial biases
(as rbm.m); fine-tuning by SGD with momentum 0.9 (learning rate 0.1, cosine decay over 50 epochs, minibatches
of 100, the best validation epoch kept) instead of conjugate gradients for 200 epochs; 50,000 training / 10,000
validation images carved at random from MNIST's 60,000. The random twin (scripts/compare.py) is the same
network from Glorot init.
"""

from stackae.config import base_config


def get_config():
    c = base_config()
    c.name = "mnist_dbn"
    c.dataset = "mnist"
    c.valid_fraction = 1 / 6
    c.layers = (500, 500, 2000)
    c.pretrain.layer = "rbm"
    c.pretrain.activation = "sigmoid"
    c.pretrain.init = "small_gaussian"
    c.pretrain.cd_steps = 1
    c.pretrain.noise = "none"
    c.pretrain.l1_activation = 0.0
    c.pretrain.l2_weight = 1e-4
    c.pretrain.optimizer = "sgd"
    c.pretrain.learning_rate = 0.1
    c.pretrain.momentum = 0.9
    c.pretrain.batch_size = 100
    c.pretrain.epochs = 50
    c.finetune.optimizer = "sgd"
    c.finetune.learning_rate = 0.1
    c.finetune.momentum = 0.9
    c.finetune.schedule = "cosine"
    c.finetune.batch_size = 100
    c.finetune.epochs = 50
    c.finetune.patience = 50
    c.finetune.random_init = "glorot"
    return c
