"""The depth study and the autoencoder-units study: cell configs, truncated stacks, gradient norms at
initialisation, mirrored decoders, diverged cells, and both scripts end to end (resume, refusal of bad input)."""

import json

import jax
import numpy as np
import pytest

import stackae
from conftest import run_script_here, tiny_config
from stackae.core.losses import RECONSTRUCTIONS
from stackae.errors import ConfigError
from stackae.experiments.autoencoder_units import UnitCell
from stackae.experiments.autoencoder_units import cell_config as unit_config
from stackae.experiments.autoencoder_units import run_unit_cell
from stackae.experiments.depth_study import DepthCell, cell_config, initial_gradient_norms, truncated
from stackae.procedures.autoencoder import autoencoder, decoder_activations

QUIET = {"log": lambda *_: None}


@pytest.fixture
def digits():
    cfg = tiny_config()
    return cfg, stackae.load_dataset(cfg)


def test_cell_config_cuts_per_layer_values_and_sets_the_activation():
    cfg = tiny_config()
    with cfg.ignore_type():
        cfg.layers = (8, 8, 8)
        cfg.pretrain.learning_rate = (0.1, 0.01, 0.001)
    c = cell_config(cfg, DepthCell(2, "sigmoid", "glorot"))
    assert c.layers == (8, 8) and c.pretrain.learning_rate == (0.1, 0.01) and c.pretrain.activation == "sigmoid"
    assert cfg.layers == (8, 8, 8)  # the study's config is untouched
    with pytest.raises(ConfigError, match="depth 4 needs at least 4 entries"):
        cell_config(cfg, DepthCell(4, "relu", "he"))


def test_the_bottom_layers_of_a_deep_stack_are_the_stack_a_shallow_pretraining_gives(digits):
    cfg, data = digits
    cfg.seeds = 2
    with cfg.ignore_type():
        cfg.layers = (12, 10, 8)
    deep = stackae.pretrain_stack(cfg, data, **QUIET)
    shallow = stackae.pretrain_stack(cell_config(cfg, DepthCell(2, "relu", "dae")), data, **QUIET)
    cut = truncated(deep, 2)
    assert len(cut.layers) == 2
    for a, b in zip(cut.encoders(), shallow.encoders()):
        np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))


def test_gradients_at_initialisation_vanish_in_a_deep_small_gaussian_sigmoid_net_not_in_he_relu(digits):
    cfg, data = digits
    cfg.seeds = 2
    with cfg.ignore_type():
        cfg.layers = (32,) * 6
    sigmoid = initial_gradient_norms(cell_config(cfg, DepthCell(6, "sigmoid", "small_gaussian")), data,
                                     "small_gaussian", examples=200)
    relu = initial_gradient_norms(cell_config(cfg, DepthCell(6, "relu", "he")), data, "he", examples=200)
    assert set(sigmoid) == {f"encoders.{k}.kernel" for k in range(6)} | {"head.kernel"}
    assert len(sigmoid["head.kernel"]) == 2  # one value per seed
    ratio = lambda g: np.mean(g["encoders.0.kernel"]) / np.mean(g["head.kernel"])  # noqa: E731
    assert ratio(sigmoid) < 1e-6 < 1e-2 < ratio(relu)


def test_mirrored_decoders_reverse_the_encoders_and_end_with_the_output_units():
    cfg = tiny_config()
    with cfg.ignore_type():
        cfg.layers = (16, 8, 2)
    c = unit_config(cfg, UnitCell("elu", "relu", "relu_squared_error"))
    assert decoder_activations(c) == ("elu", "elu", "relu")
    model = autoencoder(c, 64, jax.random.key(0))
    assert model.hidden_activation_names() == ("elu", "elu", "relu", "elu", "elu")
    recipe = unit_config(cfg, UnitCell("relu", "linear", "sigmoid_cross_entropy", "recipe", "he"))
    assert decoder_activations(recipe) == ("softplus", "softplus", "sigmoid")  # codes of rectifiers: softplus
    z, t = np.array([[-1.0, 0.5]]), np.array([[0.2, 0.1]])
    assert float(RECONSTRUCTIONS["relu_squared_error"](z, t)) == pytest.approx(0.2 ** 2 + 0.4 ** 2)
    cfg.pretrain.activation = "prelu"
    cfg.autoencoder.decoders = "mirror"
    with pytest.raises(ConfigError, match="cannot mirror a prelu"):
        stackae.config.validate(cfg)


def test_a_cell_whose_every_seed_diverges_is_recorded_not_raised(digits):
    cfg, data = digits
    cfg.seeds = 2
    with cfg.ignore_type():
        cfg.layers = (16, 2)
    cfg.autoencoder.learning_rate, cfg.autoencoder.epochs, cfg.autoencoder.batch_size = 1e4, 2, 64
    result = run_unit_cell(cfg, data, UnitCell("elu", "linear", "linear_squared_error"), **QUIET)
    assert result["test_squared_error"] is None and result["diverged"] == 2 and "diverged" in result["diverged_message"]


@pytest.mark.slow
def test_depth_study_script_runs_resumes_and_refuses_bad_input(tmp_path):
    args = ["--workdir", str(tmp_path), "--depths", "1,2", "--config.layers=(12,12)", "--config.pretrain.epochs=1",
            "--config.finetune.epochs=2", "--config.seeds=2", "--config.labels_per_class=10",
            "--activations", "relu", "--remedies", "small_gaussian+batch_norm"]
    proc = run_script_here("depth_study", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "depth_study.json").read_text())
    assert len(report["cells"]) == 2 * 3 + 1
    cell = report["cells"]["relu-2-dae"]
    assert cell["depth"] == 2 and len(cell["per_seed"]) == 2 and "grad_norm/encoders.1.kernel" in cell["history"][0]
    assert "| relu | 2 |" in proc.stdout and "relu-2 small_gaussian+batch_norm" in proc.stdout
    assert (tmp_path / "relu" / "pretrain" / "summary.json").exists()

    (tmp_path / "cells" / "relu-2-he.json").unlink()  # as if killed during that cell
    proc = run_script_here("depth_study", *args)
    assert proc.returncode == 0 and proc.stdout.count("cell ") == 1 and "relu-2-he" in proc.stdout
    assert json.loads((tmp_path / "depth_study.json").read_text())["table"] == report["table"]

    proc = run_script_here("depth_study", *args[:2], "--depths", "2,x")
    assert proc.returncode == 2 and "not a comma-separated list of ints" in proc.stderr
    proc = run_script_here("depth_study", *args, "--config.finetune.learning_rate=0.5")
    assert proc.returncode == 2 and "different config" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_autoencoder_units_script_compares_the_grid_with_the_recipe(tmp_path):
    proc = run_script_here("autoencoder_units", "--workdir", str(tmp_path), "--config.layers=(16,2)",
                           "--config.pretrain.epochs=1", "--config.autoencoder.epochs=2", "--config.seeds=2",
                           "--config.autoencoder.batch_size=64", "--config.autoencoder.learning_rate=0.002",
                           "--hidden", "relu", "--codes", "linear,relu", "--outputs", "sigmoid_cross_entropy")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "autoencoder_units.json").read_text())
    assert list(report["cells"]) == ["relu-linear-sigmoid_cross_entropy", "relu-relu-sigmoid_cross_entropy",
                                     "recipe-pretrained", "recipe-he"]
    cell = report["cells"]["recipe-pretrained"]
    assert cell["method"] == "dae" and np.asarray(cell["codes"]).shape == (359, 2)
    assert set(cell["dead_fraction"]) == {"layer1", "layer2", "layer3"}  # encoder, code, hidden decoder
    assert "| relu | relu | sigmoid_cross_entropy | mirror | he |" in proc.stdout
