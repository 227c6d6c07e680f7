"""Semi-supervised fine-tuning: the pool's labels are never read, the ramps, the mean teacher's moving average,
weight 0 = plain fine-tuning, and bad input."""

import dataclasses
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import stackae
from conftest import run_script_here, tiny_config, tree_snapshot
from stackae.config import load_config
from stackae.core.engine import init_train_state, make_epoch, replicate
from stackae.core.optim import make_optimizer
from stackae.core.semisupervised import ema_decay, linear_ramp, sigmoid_rampup
from stackae.errors import ConfigError
from stackae.methods import parse_method
from stackae.procedures.finetune import classifier_loss, initial_members, semi_supervised_spec

finetune_module = importlib.import_module("stackae.procedures.finetune")  # `stackae.finetune` is the function
QUIET = {"log": lambda *_: None}
PLAN = stackae.Plan(seeds=(0, 1), labels_per_class=3, valid_per_class=10, learning_rates=(0.1,), steps=40,
                    eval_every=10, batch_size=30)


@pytest.fixture(scope="module")
def digits():
    cfg = tiny_config()
    cfg.seeds = 2
    cfg.finetune.unlabelled_batch_size = 64
    cfg.finetune.pseudo_label_ramp_start, cfg.finetune.pseudo_label_ramp_end = 10, 30
    cfg.finetune.mean_teacher_ramp = 20
    data = stackae.load_dataset(cfg)
    return cfg, data, stackae.pretrain_stack(cfg, data, **QUIET)


def run(cfg, data, method, stack=None, plan=PLAN):
    return stackae.finetune(cfg, data, method, stack=stack if parse_method(method).pretrained else None, plan=plan,
                            **QUIET)


def leaves(run_):
    return [np.asarray(a) for a in jax.tree.leaves(run_.params)]


def test_ramps_are_zero_before_and_final_after():
    steps = jnp.arange(50)
    alpha = np.asarray(linear_ramp(steps, 10, 30, 3.0))
    assert (alpha[:11] == 0).all() and (alpha[30:] == 3.0).all()
    assert np.all(np.diff(alpha[10:31]) > 0) and alpha[20] == pytest.approx(1.5)
    ramp = np.asarray(sigmoid_rampup(steps, 20))
    assert ramp[0] == pytest.approx(np.exp(-5)) and (ramp[20:] == 1).all() and np.all(np.diff(ramp[:21]) > 0)
    assert float(ema_decay(0, 0.99)) == 0.5 and float(ema_decay(10_000, 0.99)) == pytest.approx(0.99)


ALL_THREE = "dae+pseudo_label+mean_teacher+reconstruction"


@pytest.fixture(scope="module")
def scrambled_pair(digits):
    """The same run with the pool's labels as they are and permuted (the labelled subsets held fixed)."""
    cfg, data, stack = digits
    subsets = finetune_module._subsets(data, PLAN)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finetune_module, "_subsets", lambda *_: subsets)  # the same labelled examples either way
        scrambled = dataclasses.replace(data, train_y=np.random.default_rng(0).permutation(data.train_y))
        return run(cfg, data, ALL_THREE, stack), run(cfg, scrambled, ALL_THREE, stack)


def test_the_unlabelled_pool_labels_never_influence_training(scrambled_pair):
    a, b = scrambled_pair
    assert a.rows == b.rows
    assert all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))


def test_the_compiled_run_applies_alpha_on_its_schedule(scrambled_pair):
    weights = [h["pseudo_label_weight"] for h in scrambled_pair[0].history]  # per round, per member
    means = np.asarray(weights).mean(axis=1)  # mean over the round's 10 steps: steps 0-9, 10-19, 20-29, 30-39
    assert means[0] == 0 and means[3] == pytest.approx(3.0)
    assert means[1] == pytest.approx(3.0 * np.mean(np.arange(10) / 20)) and means[1] < means[2] < means[3]


def test_a_mean_teacher_run_keeps_and_evaluates_the_teacher(digits, scrambled_pair):
    data, result = digits[1], scrambled_pair[0]
    errors = [np.mean(result.predict(data.test_x, member=m) != data.test_y) for m in range(2)]
    assert errors == pytest.approx([r["test_error"] for r in result.rows])


def test_weight_zero_gives_plain_fine_tuning(digits):
    """Every unlabelled weight 0 (and the teacher's decay 0, so it is the student): plain fine-tuning's numbers."""
    cfg, data, stack = digits
    cfg = cfg.copy_and_resolve_references()
    cfg.finetune.update(pseudo_label_alpha_final=0.0, mean_teacher_weight=0.0, mean_teacher_ema=0.0,
                        reconstruction_weight=0.0)
    cfg.finetune.patience = 100  # the semi-supervised run waits for its ramp before stopping early; so must plain
    a, b = run(cfg, data, ALL_THREE, stack), run(cfg, data, "dae", stack)
    assert [(r["valid_error"], r["test_error"], r["best_step"]) for r in a.rows] == \
        [(r["valid_error"], r["test_error"], r["best_step"]) for r in b.rows]
    classifier_leaves = [np.asarray(x) for path, x in jax.tree.leaves_with_path(a.params)
                         if "decoder" not in jax.tree_util.keystr(path)]
    for x, y in zip(classifier_leaves, leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_the_teacher_is_the_moving_average_of_the_student(digits):
    cfg, data, _ = digits
    method = parse_method("he+mean_teacher")
    spec = semi_supervised_spec(cfg, method)
    graphdef, params, _, _ = initial_members(cfg, data, method, None, (0,))
    loss_fn, _ = classifier_loss(graphdef, 0.0, True, spec)
    optimizer = make_optimizer("sgd", 0.1)
    state = jax.vmap(lambda p: init_train_state(p, optimizer, {"teacher": jax.tree.map(jnp.copy, p)}))(params)
    epoch = make_epoch(loss_fn, optimizer, 30, steps_per_round=1, unlabelled_batch_size=64,
                       after_step=finetune_module.teacher_after_step(0.9))
    x, y = finetune_module._subsets(data, PLAN)[0][0]
    train, pool = replicate({"x": jnp.asarray(x), "y": jnp.asarray(y)}, None), replicate(jnp.asarray(data.train_x), None)
    keys = jax.random.split(jax.random.key(0), 1)
    expected = [np.asarray(a) for a in jax.tree.leaves(params)]
    for step in range(6):
        state, _ = epoch(state, train, None, keys, step, pool)
        decay = min(1 - 1 / (step + 2), 0.9)
        expected = [decay * e + (1 - decay) * np.asarray(s) for e, s in zip(expected, jax.tree.leaves(state["params"]))]
    for e, t in zip(expected, jax.tree.leaves(state["extra"]["teacher"])):
        np.testing.assert_allclose(np.asarray(t), e, rtol=1e-5, atol=1e-6)
    assert not all(np.allclose(e, s) for e, s in zip(expected, jax.tree.leaves(state["params"])))


def test_semi_supervised_methods_and_keys_are_checked_in_one_sentence():
    assert parse_method("dae+mean_teacher+dropout").semi_supervised
    assert not parse_method("dae+dropout").semi_supervised
    with pytest.raises(ConfigError, match="frozen linear probe"):
        parse_method("dae_linear_probe+reconstruction")
    with pytest.raises(ConfigError, match="drop one of the two"):
        parse_method("he+batch_norm+reconstruction")
    for key, value in (("finetune.mean_teacher_weight", "-1.0"), ("finetune.reconstruction_weight", "(1.0,-0.5)"),
                       ("finetune.pseudo_label_alpha_final", "-3.0")):
        with pytest.raises(ConfigError, match=f"'{key}' is .* but must be >= 0"):
            load_config(None, {key: value})
    with pytest.raises(ConfigError, match="one value or 2 values"):
        load_config(None, {"finetune.reconstruction_weight": "(1.0,1.0,1.0)"})


@pytest.mark.parametrize("override, phrase", [
    ("--config.finetune.pseudo_label_ramp_end=5", "comes before finetune.pseudo_label_ramp_start"),
    ("--config.finetune.unlabelled_batch_size=100000", "the unlabelled pool of he+pseudo_label"),
])
def test_bad_semi_supervised_input_is_one_sentence_exit_2_and_keeps_files(tmp_path, override, phrase):
    (tmp_path / "finetune-he+pseudo_label").mkdir()
    (tmp_path / "finetune-he+pseudo_label" / "keep.json").write_text("{}")
    before = tree_snapshot(tmp_path)
    args = ["--workdir", str(tmp_path), "--config.layers=(16,8)", "--init=he+pseudo_label"]
    proc = run_script_here("finetune", *args, override)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and phrase in last and "Traceback" not in proc.stderr
    assert tree_snapshot(tmp_path) == before  # no .lock left behind either
