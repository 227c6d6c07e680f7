"""A/B of the training step's choices: each variant's epoch time over the library's, in alternated rounds.

    .venv/bin/python benchmarks/step_choices.py [--rounds 3] [--examples 50000] [--only TEXT] [--out FILE.json]

Workloads as in benchmarks/run.py: the MNIST config's 784-1000 DAE layer (pretraining) and its
784-1000-1000-1000-10 classifier (fine-tuning), batch 128, random data. Each variant is compiled once; then every
round times one epoch of the library's step and one of each variant, one after the other, and a variant's ratio
is its epoch seconds over the library's epoch of the same round (the median over rounds is printed, with the
min-max). Two kinds of variant:
- implementations of the same arithmetic, where the library chose one (ratio > 1: the library's is faster):
  masks from 32-bit uniforms (`jax.random.bernoulli`) instead of `stackae.core.noise.bernoulli`'s fewest bits,
  `x @ w` / `h @ w.T` matmuls instead of `stackae.core.matmul`'s layouts, the sigmoid cross-entropy differentiated
  by autodiff instead of its written-out gradient, one seed traced without the size-1 seed axis the library
  vmaps over, the classifier's matmul gradients without the barrier that lets XLA update weights in place;
- parts of the recipe left out (ratio < 1: what that part costs): the L1 activation penalty, momentum, the
  input noise, the held-out evaluation after the epoch (128 held-out examples instead of the full set).
"""

import argparse
import contextlib
import json
import pathlib
import statistics
import sys
from unittest import mock

import jax
import jax.numpy as jnp
import optax

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402

import stackae.core.losses  # noqa: E402
import stackae.core.matmul  # noqa: E402
import stackae.core.models  # noqa: E402
import stackae.core.noise  # noqa: E402


def autodiff_cross_entropy(logits_bd, target_bd):
    return jnp.mean(jnp.sum(optax.sigmoid_binary_cross_entropy(logits_bd, target_bd), axis=-1))


def plain_matmuls():
    """`x @ w` for every dense layer and `h @ w.T` for the tied decoder: what JAX differentiates by itself."""
    return [mock.patch.object(stackae.core.models, "dense_dot_general", jax.lax.dot_general),
            mock.patch.object(stackae.core.models, "dense_matmul", lambda x, w, precision=None: x @ w),
            mock.patch.object(stackae.core.models, "matmul_transposed", lambda a, w, precision=None: a @ w.T)]


def weight_copies():
    """`stackae.core.matmul.dense_matmul` without the barrier that orders its gradients: XLA then copies each weight
    matrix that the backward pass still reads, so that the update may overwrite it in place."""
    @jax.custom_vjp
    def unordered(x, w):
        return stackae.core.matmul.contract_last_with_first(x, w)

    unordered.defvjp(lambda x, w: (unordered(x, w), (x, w)),
                     lambda residuals, g: stackae.core.matmul.dense_gradients(*residuals, g))
    return [mock.patch.object(stackae.core.models, "dense_dot_general",
                              lambda lhs, rhs, dimension_numbers, precision=None, **kwargs: unordered(lhs, rhs))]


def without_seed_axis():
    """The workloads' `make_epoch`, patched so its epoch is traced for one seed with no seed axis: the size-1
    axis the library vmaps over is indexed away from the inputs and added back to the outputs, so the results
    have the same shape."""
    make_epoch = bench.make_epoch

    def squeezed(f, in_axes=0):
        def one(*args):
            args = [jax.tree.map(lambda a: a[0], x) if axis == 0 else x for x, axis in zip(args, in_axes)]
            return jax.tree.map(lambda a: a[None], f(*args))
        return one

    def patched(*args, **kwargs):
        with mock.patch.object(jax, "vmap", squeezed):  # only the epoch's seed vmap runs while building
            return make_epoch(*args, **kwargs)
    return [mock.patch.object(bench, "make_epoch", patched)]


@contextlib.contextmanager
def patches(*items):
    """Every mock patch in `items`, entered together."""
    with contextlib.ExitStack() as stack:
        for item in items:
            stack.enter_context(item)
        yield


def setting(section: str, key: str, value):
    """A config tweak: a part of the recipe left out."""
    return lambda cfg: setattr(cfg[section], key, value)


# name -> (workload, patches factory, config tweak, held-out examples or None for the full set)
VARIANTS = {
    "dae: masks from 32-bit uniforms": ("dae", lambda: patches(
        mock.patch.object(stackae.core.noise, "bernoulli", jax.random.bernoulli)), None, None),
    "dae: x @ w and h @ w.T matmuls": ("dae", lambda: patches(*plain_matmuls()), None, None),
    "dae: autodiff cross-entropy gradient": ("dae", lambda: patches(mock.patch.dict(
        stackae.core.losses.RECONSTRUCTIONS, {"sigmoid_cross_entropy": autodiff_cross_entropy})), None, None),
    "dae: no size-1 seed axis": ("dae", lambda: patches(*without_seed_axis()), None, None),
    "dae: without the L1 penalty": ("dae", patches, setting("pretrain", "l1_activation", 0.0), None),
    "dae: without momentum": ("dae", patches, setting("pretrain", "momentum", 0.0), None),
    "dae: without input noise": ("dae", patches, setting("pretrain", "noise", "none"), None),
    "dae: without held-out evaluation": ("dae", patches, None, 128),
    "classifier: x @ w matmuls": ("classifier", lambda: patches(*plain_matmuls()), None, None),
    "classifier: weight copies (no gradient barrier)": ("classifier", lambda: patches(*weight_copies()), None,
                                                        None),
    "classifier: no size-1 seed axis": ("classifier", lambda: patches(*without_seed_axis()), None, None),
    "classifier: without momentum": ("classifier", patches, setting("finetune", "momentum", 0.0), None),
    "classifier: without held-out evaluation": ("classifier", patches, None, 128),
}


def build(kind: str, tweak, context, train, held_out, n_held_out):
    """A compiled, warmed-up epoch of `kind` under the variant's patches; a function timing one more epoch."""
    with context:
        w = bench.dae_workload(1, tweak=tweak) if kind == "dae" else bench.classifier_workload(tweak=tweak)
        return bench.epoch_timer(w, train[kind], jax.tree.map(lambda a: a[:n_held_out], held_out[kind])
                                 if n_held_out else held_out[kind])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="alternations of the library's epoch and every variant's")
    p.add_argument("--examples", type=int, default=50000,
                   help="training examples per epoch (a fifth as many held out, at least 128)")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--only", default="", help="measure only the variants whose name contains this text")
    args = p.parse_args(argv)
    variants = {name: v for name, v in VARIANTS.items() if args.only in name}
    n, nv = args.examples, max(128, args.examples // 5)
    x, xv = jnp.asarray(bench.uniform(n, 0)), jnp.asarray(bench.uniform(nv, 1))
    train = {"dae": x, "classifier": {"x": x, "y": jnp.asarray(bench.labels(n, 0))}}
    held_out = {"dae": xv, "classifier": {"x": xv, "y": jnp.asarray(bench.labels(nv, 1))}}
    r = {**bench.header(), "examples_per_epoch": n, "held_out_per_epoch": nv, "rounds": args.rounds}
    print(f"A/B of the step's choices on {r['device']} (avx512f={r['cpu'].get('avx512f')}), {n} examples per "
          f"epoch, {args.rounds} round(s); a ratio above 1: the variant is slower than the library", flush=True)
    kinds = sorted({kind for kind, *_ in variants.values()})
    epochs = {kind: build(kind, None, patches(), train, held_out, None) for kind in kinds}
    epochs.update({name: build(kind, tweak, make(), train, held_out, n_held_out)
                   for name, (kind, make, tweak, n_held_out) in variants.items()})
    seconds = {name: [] for name in epochs}
    for i in range(args.rounds):
        for name, epoch in epochs.items():
            seconds[name].append(epoch(bench.WARMUP + i))
    r["epoch_seconds"] = seconds
    r["ratios"] = {}
    for name, (kind, *_) in variants.items():
        ratios = [a / b for a, b in zip(seconds[name], seconds[kind])]
        r["ratios"][name] = bench.spread(ratios)
        s = r["ratios"][name]
        print(f"{name:45s} {s['median']:.3f} of the library's epoch ({s['min']:.3f}-{s['max']:.3f})")
    for kind in kinds:
        print(f"library {kind} epoch: median {statistics.median(seconds[kind]):.2f} s")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(r, indent=1) + "\n")
    return r


if __name__ == "__main__":
    main()
