import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from conftest import tiny_config
from stackae.config import layer_config
from stackae.core.engine import seed_keys
from stackae.data import load_dataset
from stackae.procedures.pretrain import dae_module, layer_preactivations, reconstruction_of, train_layer
from stackae.workdir.checkpoints import ResumeCheckpoints, read_json
from stackae.workdir.pretrain import load_stack, pretrain


def test_auto_reconstruction_follows_the_glorot_gulcehre_recipe():
    cfg = tiny_config()
    assert reconstruction_of(cfg, 0) == "sigmoid_cross_entropy"
    assert reconstruction_of(cfg, 1) == "softplus_squared_error"  # rectifier codes are non-negative
    with cfg.ignore_type():
        cfg.pretrain.activation = ("tanh", "relu")
    assert reconstruction_of(cfg, 1) == "linear_squared_error"


def test_lower_layer_is_bitwise_unchanged_while_the_next_layer_trains(tmp_path):
    cfg = tiny_config()
    data = load_dataset(cfg)
    x = jnp.asarray(data.train_x)
    log = lambda *_: None
    resume = ResumeCheckpoints(tmp_path / "state")
    graphdef, params1, _ = train_layer(0, cfg, x, jnp.asarray(data.valid_x), "linear", False, None, resume, 0, log)
    before = jax.tree.map(np.array, params1)
    a1 = layer_preactivations(graphdef, params1, x, "linear")
    a1_valid = layer_preactivations(graphdef, params1, jnp.asarray(data.valid_x), "linear")
    a1_before = np.array(a1)
    _, params2, record = train_layer(1, cfg, a1, a1_valid, "relu", True, None, resume, 3, log)
    resume.close()
    assert record["train_reconstruction"] is not None
    jax.tree.map(lambda b, a: np.testing.assert_array_equal(b, np.asarray(a)), before, params1)
    np.testing.assert_array_equal(a1_before, np.asarray(a1))  # the cached codes were not touched either
    # and layer 2 really trained: its parameters moved away from their initial values
    init2 = jax.vmap(lambda k: nnx.state(dae_module(32, 16, layer_config(cfg, 1), k)))(
        jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, 1))[0])(seed_keys(cfg.seed, cfg.seeds)))
    assert not np.allclose(np.asarray(init2["encoder"]["kernel"][...]), np.asarray(params2["encoder"]["kernel"][...]))


def test_cached_codes_equal_a_fresh_forward_pass():
    cfg = tiny_config()
    data = load_dataset(cfg)
    lc = layer_config(cfg, 0)
    keys = jax.random.split(jax.random.key(3), 2)  # two seeds
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: dae_module(64, 32, lc, jax.random.key(0))))
    params = jax.vmap(lambda k: nnx.state(dae_module(64, 32, lc, k)))(keys)
    cached = np.asarray(layer_preactivations(graphdef, params, jnp.asarray(data.train_x), "linear"))
    for s, key in enumerate(keys):
        model = dae_module(64, 32, lc, key)
        fresh = data.train_x @ np.asarray(model.encoder.kernel[...]) + np.asarray(model.encoder.bias[...])
        np.testing.assert_allclose(cached[s], fresh, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.maximum(cached[s], 0), np.asarray(model.encode(data.train_x)), rtol=1e-5,
                                   atol=1e-5)


def test_pretrain_writes_summary_checkpoints_and_loads_back(tmp_path):
    cfg = tiny_config()
    summary = pretrain(cfg, tmp_path, log=lambda *_: None)
    assert [layer["n_hidden"] for layer in summary["layers"]] == [32, 16]
    for layer in summary["layers"]:
        assert np.isfinite(layer["valid_reconstruction"]) and 0 <= layer["sparsity"] <= 1 and layer["seconds"] > 0
    on_disk = read_json(tmp_path / "pretrain" / "summary.json")
    assert on_disk["layers"][1]["n_in"] == 32
    (w1, b1), (w2, b2) = load_stack(tmp_path, cfg, 64).encoders()
    assert w1.shape == (1, 64, 32) and w2.shape == (1, 32, 16)
    # a second run of the same command finds the finished run and leaves it alone
    again = pretrain(cfg, tmp_path, log=lambda *_: None)
    assert again == on_disk
