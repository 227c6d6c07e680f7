"""Deep autoencoders: unrolling a pretrained stack, decoder order, reconstruction fine-tuning, the reported
error, the PCA baseline, and the scripts."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import stackae
from conftest import run_script_here, tiny_config, tree_snapshot
from stackae.core.inits import _preactivation
from stackae.errors import ConfigError
from stackae.procedures.autoencoder import autoencoder, finetune_reconstruction, pca_baseline, unroll

QUIET = {"log": lambda *_: None}


def ae_config(layers=(24, 12, 4), activations=("relu", "relu", "linear"), tied=True, seeds=2):
    cfg = tiny_config(tied=tied)
    cfg.seeds = seeds
    with cfg.ignore_type():
        cfg.layers = layers
        cfg.pretrain.activation = activations
    cfg.autoencoder.epochs = 8
    cfg.autoencoder.patience = 8
    cfg.autoencoder.batch_size = 32
    cfg.autoencoder.learning_rate = 0.002
    return cfg


@pytest.fixture(scope="module")
def tied_stack():
    cfg = ae_config()
    data = stackae.load_dataset(cfg)
    return cfg, data, stackae.pretrain_stack(cfg, data, **QUIET)


@pytest.mark.parametrize("tied", [True, False])
def test_unrolled_network_reproduces_the_stack_codes_exactly(tied):
    cfg = ae_config(layers=(20, 7), activations=("relu", "linear"), tied=tied)
    data = stackae.load_dataset(cfg)
    stack = stackae.pretrain_stack(cfg, data, **QUIET)
    for seed_index in (0, 1):
        model = autoencoder(cfg, data.n_features, jax.random.key(5))
        unroll(model, stack, seed_index)
        np.testing.assert_array_equal(np.asarray(model.encode(data.test_x)),
                                      np.asarray(stack.encode(data.test_x, seed_index)))
        layer = jax.tree.map(lambda a: a[seed_index], stack.layers[0])
        want = layer["encoder"]["kernel"][...].T if tied else layer["decoder_kernel"][...]
        np.testing.assert_array_equal(np.asarray(model.decoders[-1].kernel[...]), np.asarray(want))


def test_a_one_layer_unrolled_network_reconstructs_like_its_dae(tied_stack):
    cfg, data, _ = tied_stack
    cfg = ae_config(layers=(16,), activations=("relu",))
    stack = stackae.pretrain_stack(cfg, data, **QUIET)
    model = autoencoder(cfg, data.n_features, jax.random.key(0))
    unroll(model, stack, 1)
    np.testing.assert_allclose(np.asarray(model.reconstruct(data.test_x)),
                               np.asarray(stack.reconstruct(data.test_x, 1)), atol=1e-6)


@pytest.mark.parametrize("sizes", [(64, 5), (64, 9, 3), (11, 7, 5, 3, 2), (64, 33, 17, 9, 1)])
def test_decoders_mirror_the_encoders_for_any_depth(sizes):
    cfg = ae_config(layers=sizes[1:], activations=("relu",) * (len(sizes) - 2) + ("linear",))
    model = autoencoder(cfg, sizes[0], jax.random.key(0))
    assert [e.kernel.shape for e in model.encoders] == list(zip(sizes[:-1], sizes[1:]))
    down = sizes[::-1]
    assert [d.kernel.shape for d in model.decoders] == list(zip(down[:-1], down[1:]))
    assert model.decoder_activations[-1] == "sigmoid"  # pixels in [0, 1]
    assert all(a == "softplus" for a in model.decoder_activations[:-1])  # rectifier codes below the code layer
    assert model.hidden(jnp.zeros((3, sizes[0])))[len(sizes) - 2].shape == (3, sizes[-1])  # the code
    assert model(jnp.zeros((3, sizes[0]))).shape == (3, sizes[0])


def test_reported_error_is_the_squared_error_per_example_of_the_best_parameters(tied_stack):
    cfg, data, stack = tied_stack
    few = stackae.dataset_from_arrays("few", np.concatenate([data.train_x, data.valid_x]),
                                      np.concatenate([data.train_y, data.valid_y]), data.test_x[:6], data.test_y[:6])
    run = finetune_reconstruction(cfg, few, stack, **QUIET)
    for member, row in enumerate(run.rows):
        recon = run.reconstruct(few.test_x, member)
        direct = np.mean(np.sum((recon.astype(np.float64) - few.test_x) ** 2, axis=1))
        assert row["test_squared_error"] == pytest.approx(direct, rel=1e-5)
        assert row["test_squared_error"] > 0


def test_fine_tuning_lowers_the_validation_error_of_the_unrolled_stack(tied_stack):
    cfg, data, stack = tied_stack
    run = finetune_reconstruction(cfg, data, stack, **QUIET)
    first = np.asarray(run.history[0]["valid_error"])
    best = np.array([r["valid_squared_error"] for r in run.rows])
    assert np.all(best < first)
    assert [r["seed"] for r in run.rows] == [0, 1]


def test_random_inits_train_the_same_network_and_lsuv_calibrates_every_hidden_layer(tied_stack):
    cfg, data, _ = tied_stack
    model = autoencoder(cfg, data.n_features, jax.random.key(1))
    x = jnp.asarray(data.train_x[:300])
    stackae.core.inits.lsuv(model, x, jax.random.key(2))
    assert len(model.hidden_layers()) == 2 * len(cfg.layers) - 1
    for k in range(len(model.hidden_layers())):
        assert abs(float(jnp.var(_preactivation(model, k, x))) - 1.0) < 0.02
    run = finetune_reconstruction(cfg, data, "lsuv", **QUIET)
    assert all(np.isfinite(r["test_squared_error"]) for r in run.rows)
    with pytest.raises(ConfigError, match="unknown deep-autoencoder init"):
        finetune_reconstruction(cfg, data, "data_dependent", **QUIET)
    with pytest.raises(ConfigError, match="pass stack="):
        finetune_reconstruction(cfg, data, "dae", **QUIET)


def test_pca_baseline_matches_a_direct_projection(tied_stack):
    _, data, _ = tied_stack
    got = pca_baseline(data, 5)
    x = data.train_x.astype(np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    basis = vt[:5]
    recon = (data.test_x - mean) @ basis.T @ basis + mean
    assert got["test_squared_error"] == pytest.approx(np.mean(np.sum((recon - data.test_x) ** 2, axis=1)), rel=1e-6)
    np.testing.assert_allclose(got["pca"].inverse_transform(got["pca"].transform(data.test_x[:4])), recon[:4],
                               atol=1e-6)


TINY_AE = ["--config.layers=(24,6)", "--config.pretrain.activation=(relu,linear)", "--config.pretrain.epochs=2",
           "--config.autoencoder.epochs=3", "--config.autoencoder.batch_size=32", "--config.seeds=2"]


@pytest.mark.slow
def test_scripts_compare_fine_tune_encode_and_refuse_bad_input(tmp_path):
    proc = run_script_here("autoencoder", "--workdir", str(tmp_path), *TINY_AE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "autoencoder.json").read_text())
    assert set(report["runs"]) == {"pretrained", "random", "random-adam", "pca"}
    assert report["runs"]["random-adam"]["optimizer"] == "adam"
    assert report["pretrained_minus_random"]["n"] == 2
    assert "| PCA | 6 components" in proc.stdout
    r = json.loads((tmp_path / "autoencoder-pretrained" / "results.json").read_text())
    assert r["architecture"] == [64, 24, 6] and len(r["per_seed"]) == 2 and r["objective"] == "reconstruction"

    proc = run_script_here("encode", "--workdir", str(tmp_path), "--objective", "reconstruction", "--init",
                           "random-adam", "--member", "1", "--out", str(tmp_path / "codes.npy"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert np.load(tmp_path / "codes.npy").shape == (359, 6)
    assert np.load(tmp_path / "codes-reconstructions.npy").shape == (359, 64)

    before = tree_snapshot(tmp_path)
    proc = run_script_here("finetune", "--workdir", str(tmp_path), "--objective", "reconstruction", "--init",
                           "bogus", *TINY_AE)
    assert proc.returncode == 2 and "unknown deep-autoencoder init 'bogus'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_script_here("finetune", "--workdir", str(tmp_path), "--objective", "reconstruction", *TINY_AE,
                           "--config.autoencoder.learning_rate=0.5")
    assert proc.returncode == 2 and "different config" in proc.stderr and "autoencoder.learning_rate" in proc.stderr
    proc = run_script_here("finetune", "--workdir", str(tmp_path), "--objective", "reconstruction", *TINY_AE)
    assert proc.returncode == 0 and "already holds this finished run" in proc.stdout + proc.stderr
    assert tree_snapshot(tmp_path) == before
