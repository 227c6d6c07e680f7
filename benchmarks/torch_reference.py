"""PyTorch eager reference for the two workloads of benchmarks/run.py, written the ordinary way.

1. One tied 784-1000 denoising autoencoder layer: masking noise 0.25, relu hidden units, sigmoid
   cross-entropy reconstruction, L1 penalty on the hidden activations, SGD with momentum.
2. The 784-1000-1000-1000-10 relu classifier: softmax cross-entropy, SGD with momentum.

Each is a plain nn.Module / autograd loop over shuffled minibatches, followed by the loss on held-out data
(as stackae's compiled epoch does). After a few warm-up steps, whole epochs are timed. Prints one JSON line:
{"pretrain_examples_per_s": ..., "finetune_examples_per_s": ..., "torch_version": ..., ...}; with --gemm N
also the FLOP/s of an N x N float32 matmul, to tell library GEMM speed from framework overhead; with --compile
also both workloads with the model under torch.compile ("*_compiled_examples_per_s"; null and a note in
"compile_error" where compiling fails, e.g. without a C compiler); with --floor (run.py passes each workload's
matmul shapes) also "*_floor_examples_per_s", an epoch made of nothing but those matmuls, as run.py's matmul
floor times XLA's. Needs only torch; run it with any interpreter that has it (run.py calls it as a subprocess).
"""

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

N_FEATURES, LAYERS, N_CLASSES = 784, (1000, 1000, 1000), 10
# Hyper-parameters of stackae/configs/mnist.py (layer 1 and fine-tuning); they do not change the cost.
NOISE_LEVEL, L1_ACTIVATION, PRETRAIN_LR, FINETUNE_LR, MOMENTUM = 0.25, 1e-4, 0.01, 0.02, 0.9


class TiedDAE(nn.Module):
    """Encoder Linear + relu; the decoder reuses the encoder weight, transposed."""

    def __init__(self, n_in: int, n_hidden: int):
        super().__init__()
        self.encoder = nn.Linear(n_in, n_hidden)
        nn.init.xavier_uniform_(self.encoder.weight)
        nn.init.zeros_(self.encoder.bias)
        self.decoder_bias = nn.Parameter(torch.zeros(n_in))

    def forward(self, x):
        h = F.relu(self.encoder(x))
        return h, F.linear(h, self.encoder.weight.t(), self.decoder_bias)


def dae_loss(model, x):
    noisy = x * (torch.rand_like(x) >= NOISE_LEVEL)
    h, logits = model(noisy)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean()
    return reconstruction + L1_ACTIVATION * h.abs().sum(1).mean()


def classifier():
    sizes = (N_FEATURES, *LAYERS)
    hidden = [m for a, b in zip(sizes[:-1], sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
    return nn.Sequential(*hidden, nn.Linear(sizes[-1], N_CLASSES))


def classifier_loss(model, x, y):
    return F.cross_entropy(model(x), y)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_epoch(model, loss_fn, optimizer, train, held_out, batch_size, steps=None):
    """One pass over shuffled minibatches (only the first `steps` if given), then the held-out loss;
    returns the number of training examples processed."""
    n = len(train[0])
    order = torch.randperm(n, device=train[0].device)
    n_batches = n // batch_size if steps is None else steps
    for i in range(n_batches):
        idx = order[i * batch_size:(i + 1) * batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, *(t[idx] for t in train))
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        loss_fn(model, *held_out).item()
    return n_batches * batch_size


def gemm_flops_per_s(n, device, repeats=5):
    """Best FLOP/s of an n x n float32 torch.matmul, after a warm-up call."""
    a, b = torch.randn(2, n, n, device=device)
    torch.matmul(a, b)
    seconds = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        seconds.append(time.perf_counter() - start)
    return 2 * n**3 / min(seconds)


FLOOR_LOOP = 16  # matmuls per timed loop, new left operands each, as run.py's matmul_seconds


def matmul_seconds(m, k, n, device, seconds=0.25):
    """Seconds of one float32 (m x k) @ (k x n) torch.matmul into a reused output, a new left operand each time
    (as run.py times XLA's), averaged over loops filling `seconds` after a warm-up loop."""
    a, b, out = torch.randn(FLOOR_LOOP, m, k, device=device), torch.randn(k, n, device=device), None
    calls, start = -FLOOR_LOOP, None
    while start is None or time.perf_counter() - start < seconds:
        for a_i in a:
            out = torch.matmul(a_i, b, out=out)
        sync(device)
        calls += FLOOR_LOOP
        start = start or time.perf_counter()
    return (time.perf_counter() - start) / calls


def floor_examples_per_s(matmuls, trained, device):
    """Training examples/s of an epoch made of nothing but these matmuls ([m, k, n, count] each)."""
    return trained / sum(c * matmul_seconds(m, k, n, device) for m, k, n, c in matmuls)


def examples_per_s(model, loss_fn, lr, train, held_out, args, device, compiled=False):
    """Warm up for a few steps (compiling, if asked), then time `args.epochs` epochs; median examples/s."""
    model = model.to(device)
    if compiled:
        model = torch.compile(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    train_epoch(model, loss_fn, optimizer, train, held_out, args.batch_size, steps=args.warmup_steps)
    rates = []
    for _ in range(args.epochs):
        sync(device)
        start = time.perf_counter()
        n = train_epoch(model, loss_fn, optimizer, train, held_out, args.batch_size)
        sync(device)
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60000, help="training examples per epoch")
    parser.add_argument("--valid", type=int, default=1000, help="held-out examples evaluated after each epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per workload (median)")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--workloads", default="pretrain,finetune")
    parser.add_argument("--gemm", type=int, default=0, help="also time an N x N float32 matmul (0: skip)")
    parser.add_argument("--compile", action="store_true", help="also time both workloads under torch.compile")
    parser.add_argument("--floor", type=json.loads, default={}, help="JSON {workload: [[m, k, n, count], ...]}: "
                        "also time each workload's matmul floor, an epoch of nothing but those matmuls")
    args = parser.parse_args()

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may run on (taskset)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.rand(args.examples, N_FEATURES, device=device)
    y = torch.randint(0, N_CLASSES, (args.examples,), device=device)
    xv = torch.rand(args.valid, N_FEATURES, device=device)
    yv = torch.randint(0, N_CLASSES, (args.valid,), device=device)

    out = {"torch_version": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}
    if args.gemm:
        out["gemm_flops_per_s"] = gemm_flops_per_s(args.gemm, device)
    workloads = args.workloads.split(",")
    models = {"pretrain": (lambda: TiedDAE(N_FEATURES, LAYERS[0]), dae_loss, PRETRAIN_LR, (x,), (xv,)),
              "finetune": (classifier, classifier_loss, FINETUNE_LR, (x, y), (xv, yv))}
    for name in workloads:
        make, loss_fn, lr, train, held_out = models[name]
        torch.manual_seed(0)
        out[f"{name}_examples_per_s"] = examples_per_s(make(), loss_fn, lr, train, held_out, args, device)
        if name in args.floor:
            trained = args.examples // args.batch_size * args.batch_size
            out[f"{name}_floor_examples_per_s"] = floor_examples_per_s(args.floor[name], trained, device)
        if args.compile:
            torch.manual_seed(0)
            try:
                out[f"{name}_compiled_examples_per_s"] = examples_per_s(make(), loss_fn, lr, train, held_out, args,
                                                                        device, compiled=True)
            except Exception as e:  # the compiled column is optional: say why it is missing
                out[f"{name}_compiled_examples_per_s"] = None
                out["compile_error"] = f"{type(e).__name__}: {str(e)[:300]}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
