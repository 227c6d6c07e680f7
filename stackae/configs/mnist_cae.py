"""MNIST with scarce labels: contractive-autoencoder pretraining (Rifai, Vincent, Muller, Glorot & Bengio 2011)
beside the DAE stack and He init of the same network, 100 and 1,000 labels, 5 seeds.

Published: a CAE-pretrained network reached 13.47% test error with 100 MNIST labels and 4.77% with 1,000
(Rifai et al. 2011, "The manifold tangent classifier", its CAE row); the paper's CAEs have sigmoid units and
pick the contraction weight and the layer sizes on validation.

Here the network and budgets of stackae/configs/mnist_sweep.py (784-1000-1000-1000 rectifiers, the realistic
validation sets of the sweep: as many validation labels per class as training labels). Method `cae` pretrains
the same stack with the contraction penalty (pretrain.contraction = 0.1, fixed, not tuned) instead of the
DAE's masking noise, keeping its reconstruction, L1 activation penalty, learning rates and epochs. Deviations:
rectifier instead of sigmoid units (so that `cae`, `dae` and `he` are the same network); no contraction weight
or width search.
"""

from stackae.configs import mnist_sweep


def get_config():
    c = mnist_sweep.get_config()
    c.name = "mnist_cae"
    c.pretrain.contraction = 0.1
    s = c.sweep
    s.methods = ("he", "dae", "cae")
    s.labels_per_class = (10, 100)
    with s.ignore_type():  # per budget
        s.steps = (200, 200)
        s.eval_every = (20, 20)
        s.batch_size = (32, 50)
    s.seeds = 5
    return c
