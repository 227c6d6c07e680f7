"""The label-scarce comparison on MNIST: the network of `mnist.py` (784-1000-1000-1000, Glorot/Gulcehre DAE
pretraining, 5 seeds), nine methods, 100 / 1,000 / all labels.

python scripts/sweep.py --config=stackae/configs/mnist_sweep.py --workdir runs/mnist-sweep \
    --config.manual_dir=../shared/data/mnist
"""

from stackae.configs import mnist


def get_config():
    c = mnist.get_config()
    c.name = "mnist_sweep"
    s = c.sweep
    s.methods = ("glorot", "he", "orthogonal", "lsuv", "data_dependent", "he+batch_norm", "dae", "dae+batch_norm",
                 "dae_linear_probe")
    s.labels_per_class = (10, 100, 0)  # 100, 1,000 and all 50,000 labels
    s.seeds = 5
    s.seeds_all_labels = 3
    s.learning_rates = (0.01, 0.03, 0.1)
    with s.ignore_type():  # per budget
        s.steps = (200, 200, 1000)  # 64 epochs of 100 labels, 10 of 1,000, 2.6 of 50,000
        s.eval_every = (20, 20, 200)
        s.batch_size = (32, 50, 128)
    return c
