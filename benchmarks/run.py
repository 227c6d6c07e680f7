"""Throughput benchmark of stackae: GEMM roofline, pretraining and fine-tuning epochs, seeds scaling, the
PyTorch reference (eager and torch.compile), and the wall time of the whole MNIST pipeline. Prints a table;
--out writes JSON, with the CPU model and its ISA flags (AVX-512, AVX2, FMA).

    .venv/bin/python benchmarks/run.py [--quick] [--rounds N] [--skip-torch] [--skip-pipeline] [--out results.json]

Rounds: the stackae pretraining and fine-tuning epochs (each against adjacent GEMM probes) and the PyTorch
reference run N times, alternating (default 3); every headline number is the median over rounds, with its
min-max spread (`<key>_spread` in the JSON), and stackae / PyTorch ratios are taken within a round first. On a
shared or drifting machine one round's ratio is not a measurement; the spread says how far to trust the median.

Workloads (MNIST config, stackae/configs/mnist.py; random data in [0, 1], no download):
- pretraining: one tied 784-1000 DAE layer (relu, masking noise 0.25, sigmoid cross-entropy, L1 activation
  penalty, SGD momentum, batch 128), timed through the library's compiled epoch (`stackae.core.engine.make_epoch`);
- fine-tuning: the 784-1000-1000-1000-10 classifier, softmax cross-entropy, SGD momentum, batch 128;
- seeds: the pretraining layer for S = 1, 4, 16 seeds in one program, examples/s per seed and the epoch time
  of S seeds over that of one. On accelerators each seed gets all the data, so that ratio is the wall-time cost
  of S seeds (target on GPU: 16 seeds <= 2.5x one); on CPU each seed gets examples/S training (and valid/S
  held-out) examples, so every S does the same total work;
- diagnostics: the pretraining layer with the per-step gradient norms and held-out activation statistics of
  `stackae.core.diagnostics` (the library default) and without (the pretraining row above), their epochs timed
  alternately, one after the other; the ratio of the median epoch times is the diagnostics' cost;
- pipeline: 3 x 1000 layers x 15 pretraining epochs + 30 fine-tuning epochs through `stackae.workdir.pretrain.pretrain`
  and `stackae.workdir.finetune.finetune_run`, on synthetic MNIST-shaped data (or real MNIST with --mnist-data-dir).
- semi-supervised (`--semi-supervised-only`): rounds of 100 steps of the 784-1000-1000-1000-10 classifier with
  32 labelled and 128 unlabelled examples per step (pseudo-labels, mean teacher) against plain fine-tuning's
  32, examples/s and each one's share of its matmul floor;
- ladder (`--ladder-only`): rounds of 100 steps of the ladder network of `mnist_ladder.py` (784-1000-500-250-250-
  250-10, 100 labelled + 100 unlabelled examples per step), examples/s and its share of its matmul floor, and
  the shipped config's wall time per seed that implies;
- few labels (`--few-labels-only`): fine-tuning wall time for 100 labels x 5 seeds, 201 steps, evaluated after
  every 3-step epoch on the whole validation split against every 20 steps on 100 validation examples.
Epochs are timed after WARMUP compiling calls; compile seconds = their excess over the median later epoch.

FLOP accounting (matmuls only; a multiply-add is 2 FLOP; biases, activations, noise, losses and optimiser
updates are elementwise and not counted). A dense a->b layer costs, per example, 2ab forward, 2ab for its
weight gradient and 2ab for its input gradient; the first layer of a chain has no input gradient since its
input is data (JAX never computes it). A training example thus costs 6ab per layer minus 2ab for the first
layer; a held-out example 2ab per layer:
- tied DAE: the chain 784 -> 1000 (encode, W) -> 784 (decode, W^T): 5 matmuls = 10 * 784 * 1000 = 7.84 MFLOP
  (counting the never-computed input gradient would give 12 * n_in * n_hidden);
- classifier: 6 * (784*1000 + 1000*1000 + 1000*1000 + 1000*10) - 2 * 784*1000 = 15.2 MFLOP.
An epoch's FLOP rate counts its training and held-out examples; examples/s counts training examples only.
Roofline fraction = achieved FLOP/s / FLOP/s of a jitted square float32 GEMM at JAX's default matmul
precision (the precision training uses; TF32 on recent NVIDIA GPUs). The GEMM is timed right after every timed
epoch (averaged over about a second of calls) and the fraction is the median of those adjacent pairs, so a
shared machine's drifting speed cancels; gemm_flops_per_s is the median of all those GEMM probes.
Matmul floor: the same epoch's matmuls (every step's, as counted above, and the held-out forward pass), each
timed alone at its own shape in a compiled loop (`matmul_seconds`) and summed, right after the epoch: the
epoch as nothing but XLA's matmuls, at the rate each shape really gets. stackae's share of the floor is what
the rest of its step (update, activations, noise, loss) leaves; floor / PyTorch eager is about the most a step
built on XLA's matmuls could reach against PyTorch on this CPU. PyTorch's matmul floor times the same
shapes with torch.matmul (torch_reference.py --floor): floor / PyTorch's floor compares the two matmul libraries
alone, where a ratio below the target leaves no step built on XLA's matmuls a way to reach it.
"""

import argparse
import collections
import contextlib
import dataclasses
import datetime
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import stackae.workdir.finetune
import stackae.workdir.pretrain
from stackae.config import CONFIGS_DIR, layer_config, load_config
from stackae.core.engine import init_train_state, make_epoch, seed_keys
from stackae.core.ladder import ladder_loss
from stackae.core.optim import make_optimizer
from stackae.data import Dataset
from stackae.methods import parse_method
from stackae.procedures.finetune import Plan, classifier, classifier_loss, early_stopping, finetune, finetune_state, \
                                        ladder_spec, semi_supervised_spec, split_classifier, teacher_after_step
from stackae.workdir.checkpoints import read_json

from stackae.procedures.pretrain import dae_loss, dae_module, dae_probe, reconstruction_of

HERE = pathlib.Path(__file__).resolve().parent
MNIST_CONFIG = str(CONFIGS_DIR / "mnist.py")
N_FEATURES, N_CLASSES = 784, 10
SEEDS = (1, 4, 16)
# Epochs before timing: the first compiles, the second lets caches and thread pools settle.
WARMUP = 2


@dataclasses.dataclass(frozen=True)
class Sizes:
    examples: int  # training examples per epoch (pipeline: train + valid pool)
    valid: int  # held-out examples evaluated after each epoch
    repeats: int  # timed epochs after the WARMUP ones (GEMM: at least 5 timed calls)
    gemm: dict  # square GEMM size per platform
    pipeline_epochs: int | None  # pretraining and fine-tuning epochs; None = the config's (15, 30)
    rounds: int = 1  # alternations of stackae (pretraining, fine-tuning) and the PyTorch reference


FULL = Sizes(60000, 1000, 3, {"cpu": 2048, "gpu": 8192}, None, rounds=3)
QUICK = Sizes(5000, 500, 1, {"cpu": 1024, "gpu": 4096}, WARMUP + 1)


def train_flop(shapes) -> int:
    """Matmul FLOP per training example of a chain of dense layers (see the module docstring)."""
    return sum(6 * a * b for a, b in shapes) - 2 * shapes[0][0] * shapes[0][1]


def forward_flop(shapes) -> int:
    return sum(2 * a * b for a, b in shapes)


def epoch_flop(shapes, n_train: int, n_held_out: int) -> int:
    return n_train * train_flop(shapes) + n_held_out * forward_flop(shapes)


def step_matmuls(shapes, batch: int) -> list[tuple]:
    """(m, k, n) of every matmul of a training step of the dense chain `shapes`, as the FLOP accounting counts
    them: per a->b layer the forward (batch, a, b), the weight gradient (a, batch, b) and, but for the first
    layer, the input gradient (batch, b, a)."""
    return [d for i, (a, b) in enumerate(shapes) for d in [(batch, a, b), (a, batch, b)] + [(batch, b, a)] * (i > 0)]


MATMUL_LOOP = 16  # matmuls per compiled loop in matmul_seconds


def matmul_seconds(m: int, k: int, n: int, seconds: float = 0.25) -> float:
    """Seconds of one float32 (m x k) @ (k x n) matmul run as a training step runs it: inside a compiled loop
    (no dispatch per matmul, output buffers reused), a new left operand each time; averaged over loops of
    MATMUL_LOOP filling `seconds`. (Timing one jitted matmul per call costs about 9% more here.)"""
    a = jax.random.normal(jax.random.key(1), (MATMUL_LOOP, m, k), jnp.float32)
    b = jax.random.normal(jax.random.key(2), (k, n), jnp.float32)

    @jax.jit
    def loop(a, b):
        def body(total, a_i):  # the barrier keeps XLA from computing only the one element read
            return total + jax.lax.optimization_barrier(a_i @ b)[0, 0], None
        return jax.lax.scan(body, jnp.float32(0), a)[0]

    timed(lambda: loop(a, b))
    return mean_seconds(lambda: loop(a, b), seconds, min_calls=2) / MATMUL_LOOP


def epoch_matmuls(shapes, batch: int, steps: int, n_held_out: int) -> list[list[int]]:
    """[m, k, n, count] of every matmul shape of an epoch: `steps` training steps and the held-out forward pass."""
    counts = collections.Counter(step_matmuls(shapes, batch) * steps)
    counts.update([(n_held_out, a, b) for a, b in shapes] * (n_held_out > 0))
    return [[*d, c] for d, c in counts.items()]


def matmul_floor(matmuls) -> float:
    """Seconds of an epoch's matmuls (`epoch_matmuls`) alone, each timed at its own shape. What the epoch would
    take if it were nothing but XLA's matmuls (no update, no activation, no noise, no loss): a floor for any
    implementation of the step on this CPU's GEMM."""
    return sum(c * matmul_seconds(m, k, n) for m, k, n, c in matmuls)


def uniform(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, N_FEATURES), dtype=np.float32)


def labels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, N_CLASSES, n, dtype=np.int32)


def timed(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def mean_seconds(fn, seconds: float, min_calls: int) -> float:
    """Seconds per call of `fn`, averaged over back-to-back calls filling `seconds` (at least `min_calls`)."""
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        jax.block_until_ready(fn())
        calls += 1
    return (time.perf_counter() - start) / calls


def device_name() -> str:
    d = jax.devices()[0]
    kind = d.device_kind
    if d.platform == "cpu" and pathlib.Path("/proc/cpuinfo").exists():
        models = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        kind = f"{models[0] if models else kind}, {len(os.sched_getaffinity(0))} cores"
    return f"{d.platform}: {kind}" + (f" x{jax.device_count()}" if jax.device_count() > 1 else "")


def header() -> dict:
    """What every result file starts with: the device, the CPU and its ISA, the date, the jax version."""
    return {"device": device_name(), "cpu": cpu_facts(), "jax_version": jax.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def cpu_facts() -> dict:
    """The CPU model and the instruction sets that decide matmul speed, from /proc/cpuinfo (empty elsewhere)."""
    info = pathlib.Path("/proc/cpuinfo")
    if not info.exists():
        return {}
    lines = info.read_text().splitlines()
    field = lambda name: next((l.split(":", 1)[1].strip() for l in lines if l.startswith(name)), "")  # noqa: E731,E741
    flags = set(field("flags").split())
    return {"model": field("model name"), "cores": len(os.sched_getaffinity(0)),
            **{isa: isa in flags for isa in ("avx512f", "avx512_bf16", "avx2", "fma")}}


def spread(values) -> dict:
    """Median, min, max and count of the measured values (None entries, i.e. not measured, left out)."""
    v = [x for x in values if x is not None]
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)} if v else \
        {"median": None, "min": None, "max": None, "n": 0}


def gemm_probe(n: int, seconds: float = 1.0):
    """A function returning the FLOP/s of a jitted n x n float32 matmul averaged over calls filling `seconds`
    (a window like an epoch's, not a best case; compiled here)."""
    a, b = jax.random.normal(jax.random.key(0), (2, n, n), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    timed(lambda: matmul(a, b))

    return lambda: 2 * n**3 / mean_seconds(lambda: matmul(a, b), seconds, min_calls=3)


def split_compile(seconds) -> tuple[float, float]:
    """(compile seconds, median steady epoch seconds) from per-epoch seconds: the first WARMUP epochs' excess
    over the median later epoch is compilation."""
    steady = statistics.median(seconds[WARMUP:])
    return sum(seconds[:WARMUP]) - WARMUP * steady, steady


def time_epochs(epoch, states, train, held_out, keys, repeats: int, gemm=None) -> tuple[list, list]:
    """Seconds of WARMUP + `repeats` consecutive epochs, and the GEMM FLOP/s probed right after each timed one
    (empty without `gemm`)."""
    box = [states]  # states are donated: always pass the latest

    def call(i):
        box[0], metrics = epoch(box[0], train, held_out, keys, i)
        return box[0], metrics

    seconds, gemm_rates = [], []
    for i in range(WARMUP + repeats):
        seconds.append(timed(lambda: call(i)))
        if gemm is not None and i >= WARMUP:
            gemm_rates.append(gemm())
    return seconds, gemm_rates


@dataclasses.dataclass
class Workload:
    """A compiled epoch with its initial train states, per-seed keys, matmul shapes and batch size."""

    epoch: object
    states: dict
    keys: jax.Array
    shapes: tuple
    batch_size: int


def epoch_timer(w: Workload, train, held_out):
    """A function timing one more epoch of `w`, after WARMUP compiling calls; it passes each epoch the states
    the last one returned (they are donated)."""
    box = [w.states]

    def epoch(i):
        def call():
            box[0], metrics = w.epoch(box[0], train, held_out, w.keys, i)
            return box[0], metrics
        return timed(call)

    for i in range(WARMUP):
        epoch(i)
    return epoch


def dae_workload(n_seeds: int, diagnostics: bool = False, tweak=None) -> Workload:
    """Layer 1 of the MNIST config, for `n_seeds` seeds; with the training diagnostics or without;
    `tweak(cfg)` changes the config first."""
    cfg = load_config(MNIST_CONFIG)
    if tweak is not None:
        tweak(cfg)
    lc, n_hidden = layer_config(cfg, 0), cfg.layers[0]
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: dae_module(N_FEATURES, n_hidden, lc, jax.random.key(0))))
    keys = seed_keys(0, n_seeds)
    params = jax.vmap(lambda k: nnx.state(dae_module(N_FEATURES, n_hidden, lc, k)))(keys)
    opt = make_optimizer(lc.optimizer, lc.learning_rate, lc.momentum)
    states = jax.vmap(lambda p: init_train_state(p, opt))(params)
    loss_fn, eval_fn = dae_loss(graphdef, lc, "linear", reconstruction_of(cfg, 0))
    epoch = make_epoch(loss_fn, opt, lc.batch_size, eval_fn, gradient_diagnostics=diagnostics,
                       probe_fn=dae_probe(graphdef, "linear", lc.activation) if diagnostics else None)
    return Workload(epoch, states, keys, ((N_FEATURES, n_hidden), (n_hidden, N_FEATURES)), lc.batch_size)


def classifier_workload(tweak=None) -> Workload:
    """The MNIST-config classifier, for one seed; `tweak(cfg)` changes the config first."""
    cfg = load_config(MNIST_CONFIG)
    if tweak is not None:
        tweak(cfg)
    f = cfg.finetune
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: classifier(cfg, N_FEATURES, N_CLASSES, jax.random.key(0))))
    keys = seed_keys(0, 1)
    params = jax.vmap(lambda k: nnx.state(classifier(cfg, N_FEATURES, N_CLASSES, k)))(keys)
    opt = make_optimizer(f.optimizer, f.learning_rate, f.momentum)
    states = jax.vmap(lambda p: finetune_state(p, opt))(params)
    loss_fn, eval_fn = classifier_loss(graphdef, f.l2_weight, stateful=False)
    epoch = make_epoch(loss_fn, opt, f.batch_size, eval_fn, early_stopping(f.patience))
    sizes = (N_FEATURES, *cfg.layers, N_CLASSES)
    return Workload(epoch, states, keys, tuple(zip(sizes[:-1], sizes[1:])), f.batch_size)


def measure(w: Workload, train, held_out, n_train: int, n_held_out: int, repeats: int, gemm=None) -> dict:
    """Time a workload's epochs: examples/s per seed, FLOP/s over all seeds, compile seconds and, with a GEMM
    probe, the roofline fraction: the median over timed epochs of the epoch's FLOP/s over the GEMM FLOP/s
    measured right after it (so a drift in machine speed cancels)."""
    seconds, gemm_rates = time_epochs(w.epoch, w.states, train, held_out, w.keys, repeats, gemm)
    compile_s, steady = split_compile(seconds)
    trained = n_train // w.batch_size * w.batch_size
    flop = len(w.keys) * epoch_flop(w.shapes, trained, n_held_out)
    fractions = [flop / s / g for s, g in zip(seconds[WARMUP:], gemm_rates)]
    matmuls = epoch_matmuls(w.shapes, w.batch_size, trained // w.batch_size, n_held_out)
    floor = len(w.keys) * matmul_floor(matmuls) if gemm is not None else None
    return {"examples": trained, "seconds": steady, "epoch_seconds": seconds, "compile_seconds": compile_s,
            "examples_per_s": trained / steady, "flop_per_example": train_flop(w.shapes),
            "flops_per_s": flop / steady, "gemm_probes": gemm_rates,
            "roofline_fraction": statistics.median(fractions) if fractions else None,
            "floor_seconds": floor, "floor_examples_per_s": ratio(trained, floor), "matmuls": matmuls}


def bench_seeds(sizes: Sizes, x, xv, gemm) -> dict:
    """The pretraining layer for S = 1, 4, 16 seeds; on CPU each seed gets 1/S of the data. S = 1 is the
    pretraining workload, measured against the GEMM probe."""
    cpu = jax.devices()[0].platform == "cpu"
    out = {}
    for s in SEEDS:
        n, nv = (sizes.examples // s, max(1, sizes.valid // s)) if cpu else (sizes.examples, sizes.valid)
        out[s] = measure(dae_workload(s), x[:n], xv[:nv], n, nv, sizes.repeats, gemm if s == 1 else None)
    return out


DIAGNOSTICS_PAIRS = 5  # at least this many timed (with, without) epoch pairs


def bench_diagnostics(sizes: Sizes, x, xv) -> dict:
    """Median epoch seconds of the pretraining layer with and without diagnostics, epochs alternating."""
    on, off = dae_workload(1, diagnostics=True), dae_workload(1, diagnostics=False)
    boxes = {"on": [on.states], "off": [off.states]}
    seconds = {"on": [], "off": []}
    for i in range(WARMUP + max(sizes.repeats, DIAGNOSTICS_PAIRS)):
        for name, w in (("on", on), ("off", off)):
            box = boxes[name]

            def call():
                box[0], metrics = w.epoch(box[0], x, xv, w.keys, i)
                return box[0], metrics

            elapsed = timed(call)
            if i >= WARMUP:
                seconds[name].append(elapsed)
    on_s, off_s = statistics.median(seconds["on"]), statistics.median(seconds["off"])
    return {"epoch_seconds_on": seconds["on"], "epoch_seconds_off": seconds["off"], "on_over_off": on_s / off_s}


def bench_finetune(sizes: Sizes, x, xv, gemm) -> dict:
    train = {"x": x, "y": jnp.asarray(labels(sizes.examples, 0))}
    held_out = {"x": xv, "y": jnp.asarray(labels(sizes.valid, 1))}
    return measure(classifier_workload(), train, held_out, sizes.examples, sizes.valid, sizes.repeats, gemm)


def find_torch_python(given: str | None) -> str | None:
    """--torch-python, else $STACKAE_TORCH_PYTHON, else this interpreter if it has torch, else .torch-venv here."""
    local = HERE / ".torch-venv" / "bin" / "python"
    if given or os.environ.get("STACKAE_TORCH_PYTHON"):
        return given or os.environ["STACKAE_TORCH_PYTHON"]
    if importlib.util.find_spec("torch") is not None:
        return sys.executable
    return str(local) if local.exists() else None


def bench_torch(python: str | None, sizes: Sizes, gemm_n: int, matmuls: dict | None = None) -> dict | None:
    """Run torch_reference.py under `python`; its JSON, or None (with a printed note) if it cannot run.
    `matmuls` ({workload: epoch_matmuls}) has it time PyTorch's matmul floor of each workload too."""
    if python is None:
        print("note: no Python with torch found (pass --torch-python or set STACKAE_TORCH_PYTHON); "
              "skipping the PyTorch reference.")
        return None
    cmd = [python, str(HERE / "torch_reference.py"), "--examples", str(sizes.examples),
           "--valid", str(sizes.valid), "--epochs", str(sizes.repeats), "--gemm", str(gemm_n), "--compile"] + \
        (["--floor", json.dumps(matmuls)] if matmuls else [])
    print(f"running the PyTorch reference: {' '.join(cmd)}", flush=True)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        print(f"note: could not start {python} ({e}); skipping the PyTorch reference.")
        return None
    if done.returncode != 0:
        print(f"note: the PyTorch reference failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def synthetic_mnist(n: int) -> Dataset:
    """MNIST-shaped random data: a pool of n (valid = n/6, as the MNIST config carves) and n/6 test examples."""
    n_valid = n // 6
    x, y = uniform(n + n_valid, 2), labels(n + n_valid, 2)
    parts = [slice(0, n - n_valid), slice(n - n_valid, n), slice(n, None)]
    return Dataset("mnist", *(a[p] for p in parts for a in (x, y)), N_CLASSES)


def bench_pipeline(sizes: Sizes, data_dir: str | None):
    """Wall time of pretrain() + finetune() on the MNIST config; (seconds, summed compile overheads of the
    epochs, from the runs' per-epoch seconds; code caching, checkpoints and the test evaluation not included)."""
    overrides = {"checkpoint_every": "1000"}
    if data_dir:
        overrides["data_dir"] = data_dir
    if sizes.pipeline_epochs:
        overrides.update({"pretrain.epochs": str(sizes.pipeline_epochs), "finetune.epochs": str(sizes.pipeline_epochs)})
    cfg = load_config(MNIST_CONFIG, overrides)
    with contextlib.ExitStack() as stack:
        if not data_dir:  # the library's own code path, fed synthetic data instead of TFDS
            data = synthetic_mnist(sizes.examples)
            for module in (stackae.workdir.pretrain, stackae.workdir.finetune):
                stack.enter_context(mock.patch.object(module, "load_dataset", lambda cfg, unit_range=True: data))
        workdir = stack.enter_context(tempfile.TemporaryDirectory())
        start = time.perf_counter()
        stackae.workdir.pretrain.pretrain(cfg, workdir, overwrite=True, log=print)
        results = stackae.workdir.finetune.finetune_run(cfg, workdir, init="pretrained", overwrite=True, log=print)
        seconds = time.perf_counter() - start
        histories = [read_json(pathlib.Path(workdir, "pretrain", f"layer_{k + 1}.json"))["history"]
                     for k in range(len(cfg.layers))] + [results["history"]]
    return seconds, sum(split_compile([e["seconds"] for e in h])[0] for h in histories)


def diagnostics_only(sizes: Sizes) -> dict:
    """The diagnostics' cost alone: the pretraining layer's epoch with and without them, alternated."""
    r = {**header(), "examples_per_epoch": sizes.examples, "held_out_per_epoch": sizes.valid}
    print(f"benchmarking the diagnostics on {r['device']} (jax {jax.__version__})", flush=True)
    r["diagnostics"] = bench_diagnostics(sizes, jnp.asarray(uniform(sizes.examples, 0)),
                                         jnp.asarray(uniform(sizes.valid, 1)))
    d = r["diagnostics"]
    print(f"epoch seconds with diagnostics {[round(v, 2) for v in d['epoch_seconds_on']]}, without "
          f"{[round(v, 2) for v in d['epoch_seconds_off']]}: with / without = {d['on_over_off']:.3f}")
    return r


def few_labels(quick: bool, rounds: int = 0) -> dict:
    """Fine-tuning wall time (compilation included) with 100 labels x 5 seeds, 201 steps of batch 32, two ways,
    alternated for `rounds` rounds (default 2, --quick 1): evaluated after every 3-step epoch on the whole
    10,000-example validation split (before the sweep's plans), and every 20 steps on 100 labelled validation
    examples (the sweep's plan)."""
    r = {**header(), "workload": "784-1000-1000-1000-10, 100 labels (10 per class) x 5 seeds, 201 steps, batch 32"}
    cfg = load_config(MNIST_CONFIG)
    cfg.diagnostics, cfg.finetune.epochs, cfg.finetune.patience = False, 67, 1000  # 67 epochs x 3 steps
    data = synthetic_mnist(12000 if quick else 60000)
    seeds = tuple(range(5))
    plans = {"every_epoch_whole_validation": Plan(seeds, 10, None, (0.03,), None, 0, 32),
             "every_20_steps_100_validation": Plan(seeds, 10, 10, (0.03,), 201, 20, 32)}
    seconds = {name: [] for name in plans}
    for _ in range(rounds or (1 if quick else 2)):
        for name, plan in plans.items():
            seconds[name].append(timed(lambda: finetune(cfg, data, "he", plan=plan,
                                                                         log=lambda *a: None).params))
    r["seconds"] = seconds
    r["before_over_after"] = statistics.median(seconds["every_epoch_whole_validation"]) / statistics.median(
        seconds["every_20_steps_100_validation"])
    print(f"100 labels x 5 seeds, 201 steps: evaluated every epoch on the whole validation split "
          f"{seconds['every_epoch_whole_validation']} s, every 20 steps on 100 examples "
          f"{seconds['every_20_steps_100_validation']} s: ratio of medians {r['before_over_after']:.2f}")
    return r


SEMI_SUPERVISED = ("he", "he+pseudo_label", "he+mean_teacher")
SEMI_LABELLED, SEMI_STEPS = 1000, 100  # labelled examples, optimiser steps per timed round


def semi_supervised_workload(method: str) -> Workload:
    """The MNIST-config classifier fine-tuned as `method` for one seed, in rounds of SEMI_STEPS steps of the
    mnist_semisupervised batches (32 labelled; the config's unlabelled batch for a semi-supervised method)."""
    cfg = load_config(str(CONFIGS_DIR / "mnist_semisupervised.py"))
    f, m = cfg.finetune, parse_method(method)
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: classifier(cfg, N_FEATURES, N_CLASSES, jax.random.key(0), m)))
    keys = seed_keys(0, 1)
    params = jax.vmap(lambda k: nnx.state(classifier(cfg, N_FEATURES, N_CLASSES, k, m)))(keys)
    opt = make_optimizer(f.optimizer, f.learning_rate, f.momentum)
    extra = {"teacher": jax.tree.map(jnp.copy, params)} if m.mean_teacher else None
    states = jax.vmap(lambda p, e: finetune_state(p, opt, e))(params, extra)
    loss_fn, eval_fn = classifier_loss(graphdef, f.l2_weight, extra is not None, semi_supervised_spec(cfg, m))
    epoch = make_epoch(loss_fn, opt, 32, eval_fn, early_stopping(f.patience), steps_per_round=SEMI_STEPS,
                       unlabelled_batch_size=f.unlabelled_batch_size if m.semi_supervised else 0,
                       after_step=teacher_after_step(f.mean_teacher_ema) if m.mean_teacher else None)
    sizes = (N_FEATURES, *cfg.layers, N_CLASSES)
    return Workload(epoch, states, keys, tuple(zip(sizes[:-1], sizes[1:])), 32), \
        f.unlabelled_batch_size if m.semi_supervised else 0


def semi_supervised(quick: bool, rounds: int = 0) -> dict:
    """Examples/s of a semi-supervised step (labelled + unlabelled batch) against plain fine-tuning's, and each
    one's share of its matmul floor (the labelled and the unlabelled chain's training matmuls; a mean teacher's
    extra forward pass of the unlabelled batch), rounds of the three methods alternated (default 3, --quick 1)."""
    r = {**header(), "workload": f"784-1000-1000-1000-10, {SEMI_LABELLED} labels, {SEMI_STEPS} steps of 32 "
                                 "labelled (+ unlabelled) examples per timed round, one seed"}
    print(f"benchmarking semi-supervised steps on {r['device']} (jax {jax.__version__})", flush=True)
    pool = jnp.asarray(uniform(6000 if quick else 60000, 2))
    train = {"x": jnp.asarray(uniform(SEMI_LABELLED, 0)), "y": jnp.asarray(labels(SEMI_LABELLED, 0))}
    held_out = {"x": jnp.asarray(uniform(100, 1)), "y": jnp.asarray(labels(100, 1))}
    workloads = {m: semi_supervised_workload(m) for m in SEMI_SUPERVISED}
    timers = {m: epoch_timer(dataclasses.replace(w, epoch=lambda s, t, h, k, i, w=w, u=u: w.epoch(s, t, h, k, i, pool)
                                                 if u else w.epoch(s, t, h, k, i)), train, held_out)
              for m, (w, u) in workloads.items()}
    seconds = {m: [] for m in SEMI_SUPERVISED}
    for i in range(rounds or (1 if quick else 3)):
        for m in SEMI_SUPERVISED:
            seconds[m].append(timers[m](WARMUP + i))
    r["methods"] = {}
    for m, (w, u) in workloads.items():
        matmuls = [[*mkn, SEMI_STEPS] for mkn in step_matmuls(w.shapes, 32) + (step_matmuls(w.shapes, u) if u else [])]
        if parse_method(m).mean_teacher:
            matmuls += [[u, a, b, SEMI_STEPS] for a, b in w.shapes]  # the teacher's forward pass
        matmuls += [[100, a, b, 1] for a, b in w.shapes]  # the held-out evaluation
        floor, steady = matmul_floor(matmuls), statistics.median(seconds[m])
        examples = SEMI_STEPS * (32 + u)
        r["methods"][m] = {"round_seconds": seconds[m], "examples_per_s": examples / steady,
                           "labelled_examples_per_s": SEMI_STEPS * 32 / steady, "floor_seconds": floor,
                           "floor_fraction": floor / steady, "unlabelled_batch": u}
        print(f"{m:<18} {examples / steady:8.0f} examples/s ({SEMI_STEPS * 32 / steady:6.0f} labelled/s), "
              f"share of its matmul floor {floor / steady:.2f}, rounds {[round(v, 3) for v in seconds[m]]} s")
    return r


LADDER_STEPS = 100  # optimiser steps per timed round


def ladder(quick: bool, rounds: int = 0) -> dict:
    """Examples/s of the ladder's step (labelled + unlabelled batch of mnist_ladder.py, one seed) and its share of
    its matmul floor: the training matmuls of the corrupted labelled chain and of both unlabelled chains (the
    clean one is a target with its gradient), the clean labelled chain's forward pass (its batch statistics),
    the decoder's vertical chain; rounds default 3, --quick 1."""
    cfg = load_config(str(CONFIGS_DIR / "mnist_ladder.py"))
    f, m = cfg.finetune, parse_method("ladder")
    labelled, unlabelled = cfg.sweep.batch_size, f.unlabelled_batch_size
    sizes = (N_FEATURES, *cfg.layers, N_CLASSES)
    r = {**header(), "workload": f"{'-'.join(map(str, sizes))} ladder, {LADDER_STEPS} steps of {labelled} labelled "
                                 f"+ {unlabelled} unlabelled examples per timed round, one seed"}
    print(f"benchmarking the ladder's step on {r['device']} (jax {jax.__version__})", flush=True)
    keys = seed_keys(0, 1)
    graphdef, params, stats = split_classifier(classifier(cfg, N_FEATURES, N_CLASSES, jax.random.key(0), m), m)
    params, stats = (jax.tree.map(lambda a: a[None], t) for t in (params, stats))
    opt = make_optimizer("adam", cfg.ladder.learning_rate, 0.0, "linear_tail", cfg.sweep.ladder_steps,
                         decay_start=cfg.ladder.decay_start)
    states = jax.vmap(lambda p, e: finetune_state(p, opt, e))(params, stats)
    loss_fn, eval_fn = ladder_loss(graphdef, ladder_spec(cfg, m))
    epoch = make_epoch(loss_fn, opt, labelled, eval_fn, early_stopping(f.patience), steps_per_round=LADDER_STEPS,
                       unlabelled_batch_size=unlabelled)
    shapes = tuple(zip(sizes[:-1], sizes[1:]))
    pool = jnp.asarray(uniform(6000 if quick else 50000, 2))
    train = {"x": jnp.asarray(uniform(1000, 0)), "y": jnp.asarray(labels(1000, 0))}
    held_out = {"x": jnp.asarray(uniform(1000, 1)), "y": jnp.asarray(labels(1000, 1))}
    w = Workload(lambda s, t, h, k, i: epoch(s, t, h, k, i, pool), states, keys, shapes, labelled)
    timer = epoch_timer(w, train, held_out)
    seconds = [timer(WARMUP + i) for i in range(rounds or (1 if quick else 3))]
    vertical = tuple((b, a) for a, b in reversed(shapes))  # top-down, the top softmax's estimate first
    matmuls = [[*mkn, LADDER_STEPS] for mkn in step_matmuls(shapes, labelled) + 2 * step_matmuls(shapes, unlabelled)
               + step_matmuls(vertical, unlabelled) + [(unlabelled, vertical[0][1], vertical[0][0])]]
    matmuls += [[labelled, a, b, LADDER_STEPS] for a, b in shapes]  # the clean labelled pass
    matmuls += [[1000, a, b, 1] for a, b in shapes]  # the held-out evaluation
    floor, steady = matmul_floor(matmuls), statistics.median(seconds)
    examples = LADDER_STEPS * (labelled + unlabelled)
    per_seed = cfg.sweep.ladder_steps / LADDER_STEPS * steady
    r.update(round_seconds=seconds, examples_per_s=examples / steady, floor_seconds=floor,
             floor_fraction=floor / steady, shipped_steps=cfg.sweep.ladder_steps,
             shipped_seconds_per_seed=per_seed)
    print(f"ladder {examples / steady:8.0f} examples/s, share of its matmul floor {floor / steady:.2f}, rounds "
          f"{[round(v, 3) for v in seconds]} s; mnist_ladder.py's {cfg.sweep.ladder_steps} steps: "
          f"{per_seed / 3600:.1f} h per seed")
    return r


def ratio(a, b):
    return a / b if a is not None and b else None


def summarize_rounds(rounds: list[dict]) -> dict:
    """Headline numbers over the rounds: the median of each quantity (its spread beside it as `<key>_spread`),
    stackae / PyTorch ratios taken within each round before the median."""
    r = {"rounds": len(rounds)}
    probes = [g for x in rounds for g in x["pretrain"]["gemm_probes"] + x["finetune"]["gemm_probes"]]
    r["gemm_flops_per_s_probes"], r["gemm_flops_per_s_spread"] = probes, spread(probes)
    r["gemm_flops_per_s"] = r["gemm_flops_per_s_spread"]["median"]
    torch_of = lambda x, key: (x["torch"] or {}).get(key)  # noqa: E731
    per_round = {"torch_gemm_flops_per_s": [torch_of(x, "gemm_flops_per_s") for x in rounds]}
    for name in ("pretrain", "finetune"):
        ours = [x[name]["examples_per_s"] for x in rounds]
        eager = [torch_of(x, f"{name}_examples_per_s") for x in rounds]
        compiled = [torch_of(x, f"{name}_compiled_examples_per_s") for x in rounds]
        r[f"{name}_flop_per_example"] = rounds[0][name]["flop_per_example"]
        floor = [x[name].get("floor_examples_per_s") for x in rounds]
        torch_floor = [torch_of(x, f"{name}_floor_examples_per_s") for x in rounds]
        per_round.update({
            f"{name}_examples_per_s": ours,
            f"{name}_floor_examples_per_s": floor,
            f"{name}_floor_fraction": [ratio(a, b) for a, b in zip(ours, floor)],
            f"{name}_floor_vs_torch": [ratio(a, b) for a, b in zip(floor, eager)],
            f"torch_{name}_floor_examples_per_s": torch_floor,
            f"{name}_floor_vs_torch_floor": [ratio(a, b) for a, b in zip(floor, torch_floor)],
            f"{name}_flops_per_s": [x[name]["flops_per_s"] for x in rounds],
            f"{name}_roofline_fraction": [x[name]["roofline_fraction"] for x in rounds],
            f"torch_{name}_examples_per_s": eager,
            f"torch_{name}_compiled_examples_per_s": compiled,
            f"{name}_vs_torch": [ratio(a, b) for a, b in zip(ours, eager)],
            f"{name}_vs_torch_compiled": [ratio(a, b) for a, b in zip(ours, compiled)]})
    for key, values in per_round.items():
        r[f"{key}_spread"] = spread(values)
        r[key] = r[f"{key}_spread"]["median"]
    r["torch"] = [x["torch"] for x in rounds]
    return r


def collect(args) -> dict:
    """Run every benchmark the flags ask for; the results as a JSON-ready dict (None where skipped)."""
    sizes = QUICK if args.quick else FULL
    platform = jax.devices()[0].platform
    gemm_n = sizes.gemm["cpu" if platform == "cpu" else "gpu"]
    r = {**header(), "quick": args.quick, "examples_per_epoch": sizes.examples,
         "held_out_per_epoch": sizes.valid, "gemm_size": gemm_n}
    print(f"benchmarking on {r['device']} (jax {jax.__version__}){' --quick' if args.quick else ''}", flush=True)
    gemm = gemm_probe(gemm_n)

    x, xv = jnp.asarray(uniform(sizes.examples, 0)), jnp.asarray(uniform(sizes.valid, 1))
    torch_python = None if args.skip_torch else find_torch_python(args.torch_python)
    rounds = []
    for i in range(args.rounds or sizes.rounds):  # stackae and PyTorch alternate, so a drifting machine shows
        print(f"round {i + 1}: stackae pretraining and fine-tuning epochs, then the PyTorch reference", flush=True)
        pre = measure(dae_workload(1), x, xv, sizes.examples, sizes.valid, sizes.repeats, gemm)
        fine = bench_finetune(sizes, x, xv, gemm)
        ref = None if args.skip_torch else bench_torch(torch_python, sizes, gemm_n,
                                                       {"pretrain": pre["matmuls"], "finetune": fine["matmuls"]})
        rounds.append({"pretrain": pre, "finetune": fine, "torch": ref})
    r.update(summarize_rounds(rounds))
    seeds = bench_seeds(sizes, x, xv, gemm)
    r["seeds_examples_per_s"] = {str(s): m["examples_per_s"] for s, m in seeds.items()}
    r["seeds_examples_per_seed"] = {str(s): m["examples"] for s, m in seeds.items()}
    r["seeds_epoch_seconds"] = {str(s): m["seconds"] for s, m in seeds.items()}
    r["diagnostics"] = bench_diagnostics(sizes, x, xv)
    del x, xv
    pre, fine = rounds[0]["pretrain"], rounds[0]["finetune"]

    r["compile_seconds"] = {"pretrain_layer": pre["compile_seconds"], "finetune": fine["compile_seconds"],
                            "pipeline": None}
    r["mnist_pipeline_seconds"], r["mnist_pipeline_data"] = None, None
    if not args.skip_pipeline:
        r["mnist_pipeline_seconds"], r["compile_seconds"]["pipeline"] = bench_pipeline(sizes, args.mnist_data_dir)
        r["mnist_pipeline_data"] = f"tfds mnist in {args.mnist_data_dir}" if args.mnist_data_dir else "synthetic"
    return r


def table(r: dict) -> str:
    """The results as aligned rows of quantity, median value, unit and, where measured in several rounds, the
    spread (min-max) over the rounds."""
    g = lambda v: None if v is None else v / 1e9  # noqa: E731
    seeds_note = " (1/S of the data per seed)" if r["device"].startswith("cpu") else ""
    rows = [
        (f"GEMM float32 {r['gemm_size']}^3", "gemm_flops_per_s", "GFLOP/s", g),
        ("  PyTorch GEMM", "torch_gemm_flops_per_s", "GFLOP/s", g),
        *row_group("pretrain", "pretrain layer 784-1000", g),
        ("  with diagnostics / without", r["diagnostics"]["on_over_off"], "x epoch time", None),
        *row_group("finetune", "finetune 784-1000-1000-1000-10", g),
        *((f"pretrain, S={s} seeds{seeds_note}", v, "examples/s per seed", None)
          for s, v in r["seeds_examples_per_s"].items()),
        *((f"  epoch time, S={s} / S=1", v / r["seeds_epoch_seconds"]["1"], "x", None)
          for s, v in r.get("seeds_epoch_seconds", {}).items() if s != "1"),
        (f"MNIST pipeline ({r['mnist_pipeline_data'] or 'skipped'})", r["mnist_pipeline_seconds"], "s", None),
        *((f"compile, {k}", v, "s", None) for k, v in r["compile_seconds"].items()),
    ]
    fmt = lambda v: "n/a" if v is None else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"  # noqa: E731
    cells = []
    for name, value, unit, scale in rows:
        if isinstance(value, str):  # a key of r: its median, and its spread over rounds if there are several
            s = r.get(f"{value}_spread") or {}
            value, scale = r[value], scale or (lambda v: v)
            value = scale(value) if value is not None else None
            unit += f"  ({fmt(scale(s['min']))}-{fmt(scale(s['max']))} over {s['n']})" if s.get("n", 0) > 1 else ""
        cells.append((name, value, unit))
    width = max(len(name) for name, _, _ in cells)
    cpu = r.get("cpu") or {}
    isa = ", ".join(k for k in ("avx512f", "avx2", "fma") if cpu.get(k)) or "n/a"
    lines = [f"{r['device']}  jax {r['jax_version']}  {r['date']}{'  (quick)' if r['quick'] else ''}",
             f"CPU: {cpu.get('model', 'n/a')}; ISA: {isa}; medians of {r.get('rounds', 1)} round(s)"]
    lines += [f"{name:<{width}}  {fmt(v):>12}  {unit}" for name, v, unit in cells]
    return "\n".join(lines)


def row_group(name: str, title: str, g) -> list:
    """The table rows of one workload: stackae, its roofline fraction, PyTorch eager and compiled, the ratios."""
    return [(title, f"{name}_examples_per_s", "examples/s", None),
            ("  FLOP rate", f"{name}_flops_per_s", "GFLOP/s", g),
            ("  roofline fraction", f"{name}_roofline_fraction", "", None),
            ("  matmul floor (its matmuls alone)", f"{name}_floor_examples_per_s", "examples/s", None),
            ("  share of the matmul floor", f"{name}_floor_fraction", "", None),
            ("  PyTorch eager", f"torch_{name}_examples_per_s", "examples/s", None),
            ("  PyTorch torch.compile", f"torch_{name}_compiled_examples_per_s", "examples/s", None),
            ("  stackae / PyTorch eager", f"{name}_vs_torch", "x", None),
            ("  stackae / torch.compile", f"{name}_vs_torch_compiled", "x", None),
            ("  matmul floor / PyTorch eager", f"{name}_floor_vs_torch", "x (about the most a step could reach)", None),
            ("  PyTorch's matmul floor (same shapes)", f"torch_{name}_floor_examples_per_s", "examples/s", None),
            ("  matmul floor / PyTorch's", f"{name}_floor_vs_torch_floor", "x (XLA's matmuls against PyTorch's)",
             None)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and a 3-epoch pipeline, for a smoke test")
    parser.add_argument("--skip-torch", action="store_true", help="do not run the PyTorch reference")
    parser.add_argument("--skip-pipeline", action="store_true", help="do not time the full MNIST pipeline")
    parser.add_argument("--torch-python", help="a Python interpreter with torch (default: $STACKAE_TORCH_PYTHON, "
                                               "this one if it has torch, else benchmarks/.torch-venv)")
    parser.add_argument("--mnist-data-dir", help="a prepared TFDS data_dir: time the pipeline on real MNIST")
    parser.add_argument("--rounds", type=int, default=0, help="alternations of stackae and PyTorch to take "
                                                               "medians over (default: 3, --quick 1)")
    parser.add_argument("--out", help="also write the results as JSON to this file")
    parser.add_argument("--diagnostics-only", action="store_true",
                        help="only the pretraining epoch with and without diagnostics, alternated")
    parser.add_argument("--few-labels-only", action="store_true",
                        help="only the fine-tuning wall time with 100 labels x 5 seeds, two evaluation plans")
    parser.add_argument("--semi-supervised-only", action="store_true",
                        help="only the semi-supervised steps (pseudo-labels, mean teacher) against plain fine-tuning")
    parser.add_argument("--ladder-only", action="store_true",
                        help="only the ladder network's step and the shipped ladder config's wall time per seed")
    args = parser.parse_args()
    if args.ladder_only:
        r = ladder(args.quick, args.rounds)
    elif args.semi_supervised_only:
        r = semi_supervised(args.quick, args.rounds)
    elif args.few_labels_only:
        r = few_labels(args.quick, args.rounds)
    elif args.diagnostics_only:
        r = diagnostics_only(QUICK if args.quick else FULL)
    else:
        r = collect(args)
        print(table(r))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(r, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
