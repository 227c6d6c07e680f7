"""Scarce labels, the whole answer on MNIST: pretraining beside the semi-supervised remedies, and on top of them.

The network and pretraining of `mnist.py` (784-1000-1000-1000 ReLU, Glorot/Gulcehre DAE stack, so the
pretrained stack of `mnist_sweep.py` with 5 seeds serves here too); 100 and 1,000 labels, 5 seeds, validation
as small as the labelled set (at least 10 per class), every method choosing its learning rate from the same grid
on that validation set only.

python scripts/sweep.py --config=stackae/configs/mnist_semisupervised.py --workdir runs/mnist-semi \
    --config.manual_dir=../shared/data/mnist

Lee 2013 (pseudo-labels) trained 784-5000-10 with dropout, 32 labelled + 256 unlabelled examples per step,
alpha rising from 0 at epoch 100 to 3 at epoch 600 over thousands of epochs. Deviations here: the sweep's
network (three layers of 1000, so every method shares one pretrained stack); 128 unlabelled examples per step;
budgets in optimiser steps (2,000 for semi-supervised methods, 200 for supervised ones, as `mnist_sweep.py`),
with alpha ramped from step 200 to step 1,200 (about epochs 60 to 400 of 100 labels in batches of 32: shorter
than Lee's, to fit a 2-core CPU); SGD with momentum and a cosine schedule (Lee: SGD with momentum rising to 0.99
and a decaying rate). Mean teacher (Tarvainen & Valpola 2017): decay 0.99 throughout (the paper switches to
0.999 after the ramp-up), Gaussian input noise 0.3 instead of their image translations, consistency weight 10
after a 600-step ramp-up. Joint reconstruction: weight 0.01 per layer (the costs are sums over a layer's
inputs, tens per example, against a cross-entropy below one). On the 2-core AVX-512 EPYC a semi-supervised cell
(5 seeds x 3 learning rates, 2,000 steps) took 15-28 minutes, sharing the cores with other work (docs/RESULTS.md);
the whole grid is a run of several hours, resumable cell by cell.
"""

from stackae.configs import mnist


def get_config():
    c = mnist.get_config()
    c.name = "mnist_semisupervised"
    f = c.finetune
    f.unlabelled_batch_size = 128
    f.pseudo_label_alpha_final = 3.0
    f.pseudo_label_ramp_start = 200
    f.pseudo_label_ramp_end = 1200
    f.mean_teacher_weight = 10.0
    f.mean_teacher_ramp = 600
    f.mean_teacher_ema = 0.99
    f.mean_teacher_noise = 0.3
    f.reconstruction_weight = 0.01
    s = c.sweep
    s.methods = ("he", "dae", "he+pseudo_label", "dae+pseudo_label", "he+mean_teacher", "dae+mean_teacher",
                 "he+reconstruction", "dae+reconstruction", "he+dropout+pseudo_label", "dae+dropout+pseudo_label")
    s.labels_per_class = (10, 100)  # 100 and 1,000 labels
    s.seeds = 5
    s.seeds_all_labels = 5
    s.learning_rates = (0.01, 0.03, 0.1)
    with s.ignore_type():  # per budget
        s.steps = (200, 200)
        s.semi_supervised_steps = (2000, 2000)
        s.eval_every = (20, 20)
        s.batch_size = (32, 50)
    return c
