import re

import pytest

from stackae.config import apply_override, base_config, layer_config, load_config, validate
from stackae.errors import ConfigError


def test_shipped_configs_validate():
    for name in ("digits", "mnist"):
        cfg = load_config(f"stackae/configs/{name}.py")
        assert cfg.name == name
    mnist = load_config("stackae/configs/mnist.py")
    assert mnist.layers == (1000, 1000, 1000) and mnist.pretrain.activation == "relu"


def test_overrides_are_typed_and_per_layer_tuples_resolve():
    cfg = load_config(None, {"pretrain.epochs": "5", "pretrain.learning_rate": "(0.1, 0.01)",
                             "pretrain.tied": "false", "dataset": "mnist", "layers": "(8, 4)"})
    assert cfg.pretrain.epochs == 5 and cfg.pretrain.tied is False and cfg.dataset == "mnist"
    assert layer_config(cfg, 0).learning_rate == 0.1 and layer_config(cfg, 1).learning_rate == 0.01


@pytest.mark.parametrize("key, value, message", [
    ("pretrain.lerning_rate", "0.1", "did you mean 'pretrain.learning_rate'"),
    ("pretrain.activation", "relux", "choose one of"),
    ("pretrain.noise", "speckle", "choose one of"),
    ("pretrain.noise_level", "1.0", r"in \[0, 1\)"),
    ("pretrain.noise_level", "-0.1", r"in \[0, 1\)"),
    ("layers", "()", "non-empty tuple of positive ints"),
    ("layers", "(10, -1)", "non-empty tuple of positive ints"),
    ("layers", "(10, 0)", "non-empty tuple of positive ints"),
    ("pretrain.epochs", "2.5", "must be of type int, got 2.5, e.g. --config.pretrain.epochs=20"),
    ("layers", "abc", "must be of type tuple, got 'abc', e.g. --config.layers='\\(256,256\\)'"),
    ("pretrain.learning_rate", "(0.1, 0.1, 0.1)", "one value or 2 values"),
    ("finetune.optimizer", "rmsprop", "choose one of"),
    ("seeds", "0", "> 0"),
    ("autoencoder.rate_drop_epochs", "(20, 10)", "a tuple of increasing epoch counts > 0"),
    ("autoencoder.rate_drop_epochs", "0", "a tuple of increasing epoch counts > 0"),
    ("autoencoder.rate_drop_epochs", "50", "never happens in autoencoder.epochs=50"),
    ("autoencoder.rate_drop_factor", "0", r"in \(0, 1\]"),
])
def test_bad_values_get_one_clear_sentence(key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, {key: value})


def test_unknown_key_in_a_config_file_is_rejected(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text("from stackae.config import base_config\n"
                    "def get_config():\n    c = base_config()\n    c.finetune.patiense = 3\n    return c\n")
    with pytest.raises(ConfigError, match="did you mean 'finetune.patience'"):
        load_config(str(path))


def test_missing_config_file_is_reported():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("no/such/config.py")


def test_base_config_is_valid_and_override_rejects_unknown_keys():
    cfg = base_config()
    validate(cfg)
    with pytest.raises(ConfigError, match="unknown config key"):
        apply_override(cfg, "nonsense", "1")


@pytest.mark.parametrize("body, message", [
    ("def get_config(:\n", "failed to load (SyntaxError"),
    ("def get_config():\n    raise ValueError('boom')\n", "raised ValueError: boom"),
    ("def get_config():\n    return None\n", "returned NoneType, not a ConfigDict"),
    ("x = 1\n", "has no get_config()"),
])
def test_broken_config_files_get_one_sentence(tmp_path, body, message):
    path = tmp_path / "broken.py"
    path.write_text(body)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(str(path))


def test_saved_config_json_loads_back_and_unquoted_name_tuples_parse(tmp_path):
    assert load_config(None, {"layers": "256"}).layers == (256,)
    cfg = load_config(None, {"pretrain.activation": "(relu,tanh)"})
    assert layer_config(cfg, 1).activation == "tanh"
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    assert load_config(str(path)).to_json() == cfg.to_json()


def test_space_instead_of_dot_gets_a_hint():
    with pytest.raises(ConfigError, match="write --config.pretrain.epochs=3, with a dot"):
        load_config("pretrain.epochs=3")
