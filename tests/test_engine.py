"""The compiled epoch: many seeds in one program equal each seed alone; a diverged seed is frozen."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import tiny_config
from stackae.core.engine import init_train_state, make_epoch
from stackae.core.training import EpochLog
from stackae.workdir.checkpoints import restore_tree
from stackae.workdir.finetune import finetune_run
from stackae.workdir.pretrain import pretrain


def test_a_non_finite_seed_is_frozen_and_flagged_while_others_train():
    def loss_fn(params, x, key):  # seed 1 starts at w = -1, where sqrt is NaN
        return jnp.mean((jnp.sqrt(params["w"]) * x - 1.0) ** 2), {}

    opt = optax.sgd(0.01)
    states = jax.vmap(lambda w: init_train_state({"w": w}, opt))(jnp.array([1.0, -1.0]))
    epoch = make_epoch(loss_fn, opt, 4)
    x = jnp.full((16,), 2.0)
    for e in range(3):
        states, metrics = epoch(states, x, x, jax.random.split(jax.random.key(0), 2), e)
    assert np.asarray(states["diverged"]).tolist() == [False, True]
    assert np.asarray(states["active"]).tolist() == [True, False]
    w = np.asarray(states["params"]["w"])
    assert w[0] != 1.0 and np.isfinite(w[0])  # the healthy seed trained
    assert w[1] == -1.0  # the diverged seed kept its last good value


def test_many_seeds_in_one_program_equal_each_seed_alone(tmp_path):
    cfg = tiny_config()
    cfg.seeds, cfg.seed = 3, 5
    cfg.finetune.epochs = 6
    pretrain(cfg, tmp_path / "many", log=lambda *_: None)
    many = finetune_run(cfg, tmp_path / "many", log=lambda *_: None)
    alone = tiny_config()
    alone.seed, alone.finetune.epochs = 6, 6
    pretrain(alone, tmp_path / "alone", log=lambda *_: None)
    single = finetune_run(alone, tmp_path / "alone", log=lambda *_: None)
    for layer in ("layer_1", "layer_2"):
        stacked = restore_tree(tmp_path / "many" / "pretrain" / layer)
        one = restore_tree(tmp_path / "alone" / "pretrain" / layer)
        jax.tree.map(lambda s, o: np.testing.assert_allclose(s[1], o[0], rtol=1e-4, atol=1e-5), stacked, one)
    assert many["seeds"] == [5, 6, 7] and single["seeds"] == [6]
    np.testing.assert_allclose(many["per_seed"][1]["test_error"], single["per_seed"][0]["test_error"], atol=1e-6)
    assert many["test_error_ci95"] > 0


def test_each_epoch_program_compiles_once_per_run(tmp_path, caplog):
    """The first epoch's inputs are committed to the device as the later epochs' are, so a run compiles each
    epoch program once (an uncommitted first input used to compile fine-tuning's epoch a second time)."""
    cfg = tiny_config()
    cfg.finetune.epochs = 3
    with jax.log_compiles(True), caplog.at_level(logging.WARNING):
        pretrain(cfg, tmp_path, log=lambda *_: None)
        finetune_run(cfg, tmp_path, log=lambda *_: None)
    compiles = [r for r in caplog.records if r.getMessage().startswith("Compiling jit(compiled_epoch)")]
    assert len(compiles) == len(cfg.layers) + 1


def test_labelled_subsets_differ_per_seed_and_are_balanced(tmp_path):
    cfg = tiny_config()
    cfg.seeds, cfg.labels_per_class = 2, 10
    cfg.finetune.epochs, cfg.finetune.batch_size = 5, 10
    r = finetune_run(cfg, tmp_path, init="random", log=lambda *_: None)
    assert r["labels_used"] == 100 and r["labels_per_class"] == 10 and len(r["per_seed"]) == 2
    assert all(0 <= s["test_error"] < 0.9 for s in r["per_seed"])


def test_a_rate_drop_scales_every_update_of_its_epochs_and_leaves_earlier_epochs_bitwise_unchanged():
    from stackae.core.optim import make_optimizer, rate_factors

    def loss_fn(params, x, key):
        return jnp.mean((params["w"] * x - 1.0) ** 2), {}

    def train(rate, rate_scale):
        opt = make_optimizer("sgd", rate, momentum=0.9)
        states = jax.vmap(lambda w: init_train_state({"w": w}, opt))(jnp.array([0.3]))
        epoch = make_epoch(loss_fn, opt, 16, rate_scale=rate_scale)  # one step per epoch
        x, keys, ws = jnp.linspace(0.5, 2.0, 16), jax.random.split(jax.random.key(0), 1), []
        for e in range(3):
            before = np.asarray(states["params"]["w"])
            states, _ = epoch(states, x, x, keys, e)
            ws.append((before, np.asarray(states["params"]["w"])))
        return ws

    plain, dropped = train(0.05, None), train(0.05, rate_factors(3, (2,), 0.5))
    assert rate_factors(5, (2, 4), 0.5).tolist() == [1, 1, 0.5, 0.5, 0.25]
    assert plain[0][1] == dropped[0][1] and plain[1][1] == dropped[1][1]  # epochs 1-2: the same updates
    # epoch 3 from the same start and momentum: half the rate moves w half as far
    assert plain[2][1] != dropped[2][1]
    np.testing.assert_allclose(dropped[2][1] - dropped[2][0], 0.5 * (plain[2][1] - plain[2][0]), rtol=1e-5)


@pytest.mark.parametrize("total, progress", [(20, [f"{p}%" for p in range(10, 101, 10)]), (5, [])])
def test_epoch_log_off_a_terminal_writes_a_progress_line_per_tenth_of_a_long_run(total, progress):
    lines = []
    epoch_log = EpochLog("run", 0, total, lambda epoch, m, s: f"epoch {epoch + 1}", log=lines.append)
    for epoch in range(total):
        epoch_log.push(epoch, {"loss": jnp.zeros(2)})
    epoch_log.close()
    assert [line for line in lines if line.startswith("epoch")] == [f"epoch {e + 1}" for e in range(total)]
    written = [line.split(": ")[1].split(" ")[0] for line in lines if line.startswith("run: ")]
    assert written == progress
