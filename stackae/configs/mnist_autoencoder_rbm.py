"""MNIST deep autoencoder 784-1000-500-250-30 pretrained with RBMs, as Hinton & Salakhutdinov 2006
(mnistdeepauto.m), then unrolled and fine-tuned on reconstruction at the budget of
stackae/configs/mnist_autoencoder.py (its DAE-pretrained twin), so the two pretrainings compare directly.

Pretraining as H&S: Bernoulli-Bernoulli RBMs 784-1000, 1000-500, 500-250 (sigmoid units; pixel intensities as
visible probabilities) and a top RBM 250-30 with linear (Gaussian, unit variance) hidden units; CD-1,
minibatches of 100, learning rate 0.1 (0.001 for the linear top RBM), momentum 0.9, weight decay 0.0002
(pretrain.l2_weight = 0.0001), weights from N(0, 0.01^2), 10 epochs per layer. The unrolled decoders are
logistic, as H&S (each RBM's visible units). Deviations: momentum 0.9 from the first epoch (rbm.m: 0.5 for 5
epochs; --config.pretrain.momentum_warmup_epochs=5 gives that, not how the recorded results ran); fine-tuning
by SGD with momentum (mnist_autoencoder.py's: learning rate 0.001, 30 epochs) instead of conjugate gradients
for 200 epochs; 50,000 training / 10,000 validation images carved at random.
"""

from stackae.configs import mnist_autoencoder


def get_config():
    c = mnist_autoencoder.get_config()
    c.name = "mnist_autoencoder_rbm"
    c.pretrain.layer = "rbm"
    with c.ignore_type():  # per-layer values, bottom to top
        c.pretrain.activation = ("sigmoid", "sigmoid", "sigmoid", "linear")
        c.pretrain.l1_activation = 0.0
        c.pretrain.learning_rate = (0.1, 0.1, 0.1, 0.001)
    c.pretrain.init = "small_gaussian"
    c.pretrain.noise = "none"
    c.pretrain.l2_weight = 1e-4
    c.pretrain.batch_size = 100
    c.pretrain.epochs = 10
    c.finetune.random_init = "glorot"
    return c
