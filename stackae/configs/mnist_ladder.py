"""The ladder network on MNIST as Rasmus et al. 2015 ran it (fully connected), beside its Gamma model and a ladder
started from the greedy DAE stack: does layer-wise pretraining still help a ladder?

python scripts/sweep.py --config=stackae/configs/mnist_ladder.py --workdir runs/mnist-ladder \
    --config.manual_dir=../shared/data/mnist

As the paper (its code, CuriousAI/ladder, "MNIST 100 labels"): 784-1000-500-250-250-250-10 ReLU, batch
normalisation at every layer, Gaussian noise of std 0.3 on the input and on every normalised layer of the
corrupted path, the vanilla (gauss) combinator, lambdas 1000, 10, 0.1, 0.1, 0.1, 0.1, 0.1 (Gamma: 0.5 on the top
only), 100 labelled + 100 unlabelled examples per step, Adam 0.002 for 150 epochs of the unlabelled pool (90,000
steps of 100 on 60,000 images), the rate decaying linearly to 0 over the last third.

Deviations: the unlabelled pool is the 50,000 training images (the other 10,000 are the validation split, from
which each seed draws as many labelled validation examples as it has training labels, at least 10 per class;
the paper tuned on 10,000 validation labels), so 150 epochs are 75,000 steps; the evaluated network is the
validation-best of evaluations every 500 steps (one epoch of the pool; the paper reports the last), with no
early stopping (patience above the number of evaluations); the 1,000-label budget keeps the 100-label lambdas
and noise (the paper used 2000, 20, 0.1... and a hidden-layer noise of 0.2 there); LeCun-normal kernels are
truncated (the paper's code draws untruncated randn / sqrt(fan_in)); the running statistics used at evaluation
are the moving averages of training (the authors' code can also recompute them over the training set).
`dae+ladder` starts the encoder kernels from the DAE stack of `mnist.py`'s recipe on this network. The supervised
methods are in `mnist_semisupervised.py` (another network; their step budget is not a ladder's).

The wall time is one of several hours per seed on a 2-core CPU (docs/RESULTS.md): run it where a GPU is lent, or
shard it over sessions (every cell resumes from its last evaluation).
"""

from stackae.configs import mnist


def get_config():
    c = mnist.get_config()
    c.name = "mnist_ladder"
    c.layers = (1000, 500, 250, 250, 250)
    with c.ignore_type():  # mnist.py's per-layer rates: 0.01 on pixels, 0.001 on the codes above
        c.pretrain.learning_rate = (0.01, 0.001, 0.001, 0.001, 0.001)
    d = c.ladder
    d.noise_std = 0.3
    d.denoising_weights = (1000.0, 10.0, 0.1, 0.1, 0.1, 0.1, 0.1)
    d.gamma_weight = 0.5
    d.learning_rate = 0.002
    d.decay_start = 0.67
    c.finetune.unlabelled_batch_size = 100
    c.finetune.patience = 1000
    s = c.sweep
    s.methods = ("ladder", "gamma", "dae+ladder")
    s.labels_per_class = (10, 100)  # 100 and 1,000 labels
    s.seeds = 3
    s.seeds_all_labels = 3
    s.ladder_learning_rates = (0.002,)
    s.ladder_steps = 75000
    s.eval_every = 500
    s.batch_size = 100
    return c
