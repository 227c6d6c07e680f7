"""MNIST, the strongest fully connected DAE-pretrained recipe tried so far: the network and pretraining of
`mnist.py` (784-1000-1000-1000 rectifiers, Glorot/Gulcehre DAEs: masking 25%, L1 1e-4, 15 epochs per layer),
fine-tuned with dropout 0.5 on the hidden units (Hinton et al. 2012; Srivastava et al. 2014), SGD with momentum
0.9 at 0.1 with a cosine decay over 50 epochs, batch 128, the best validation epoch kept.

Target: at or below 1.20% test error (Glorot et al. 2011 report 1.20% for pretrained rectifier networks). The
random-init twin (scripts/compare.py) is the same network from He init with the same dropout and fine-tuning
(finetune.compare_remedies = "dropout": the arms are dae+dropout and he+dropout).

How it was chosen: on the validation split only (10,000 images carved from MNIST's 60,000 training images, the
test set untouched), against `mnist.py` (no dropout, rate 0.02, 30 epochs) on the same pretraining, seeds and
split; the learning rate 0.1 is the one the all-labels sweep (mnist_sweep.py) picked on validation. No wider
search was run. Measured (docs/RESULTS.md, 2026-12-04, 3 seeds): validation 1.11% against mnist.py's 1.14%;
test 1.28% +- 0.24 (He + dropout twin 1.64%), so the 1.20% target is missed by 0.08 points.
"""

from stackae.configs import mnist


def get_config():
    c = mnist.get_config()
    c.name = "mnist_best"
    c.finetune.compare_remedies = "dropout"
    c.finetune.dropout = 0.5
    c.finetune.learning_rate = 0.1
    c.finetune.schedule = "cosine"
    c.finetune.epochs = 50
    c.finetune.patience = 50
    return c
