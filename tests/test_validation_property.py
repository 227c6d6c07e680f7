"""Property-based: every invalid config gets a ConfigError (never a JAX/orbax traceback); valid ones pass."""

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackae.config import _flat_keys, apply_override, base_config, validate
from stackae.core.activations import ACTIVATIONS
from stackae.core.noise import NOISES
from stackae.errors import ConfigError

SCHEMA = _flat_keys(base_config())
KEYS = sorted(SCHEMA)

INVALID = {
    "layers": st.one_of(st.just(()), st.lists(st.integers(max_value=0), min_size=1, max_size=3).map(tuple),
                        st.text(max_size=5)),
    "seeds": st.integers(max_value=0),
    "seed": st.integers(max_value=-1),
    "valid_fraction": st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0)),
    "labels_per_class": st.integers(max_value=-1),
    "pretrain.noise_level": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0),
                                      st.floats(allow_nan=True).filter(lambda v: v != v)),
    "pretrain.activation": st.text(alphabet=string.ascii_letters, max_size=8).filter(lambda s: s not in ACTIVATIONS),
    "pretrain.noise": st.text(alphabet=string.ascii_letters, max_size=8).filter(lambda s: s not in NOISES),
    "pretrain.learning_rate": st.floats(max_value=0.0),
    "pretrain.batch_size": st.integers(max_value=0),
    "pretrain.epochs": st.one_of(st.integers(max_value=0), st.floats(allow_nan=False)),
    "finetune.patience": st.integers(max_value=0),
    "finetune.momentum": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0)),
    "finetune.optimizer": st.sampled_from(["rmsprop", "SGD", "", "adamw"]),
    "pretrain.tied": st.one_of(st.integers(), st.text(max_size=3)),
}

VALID = {
    "layers": st.lists(st.integers(min_value=1, max_value=4096), min_size=1, max_size=4).map(tuple),
    "seeds": st.integers(min_value=1, max_value=64),
    "pretrain.noise_level": st.floats(min_value=0.0, max_value=0.99),
    "pretrain.activation": st.sampled_from(sorted(ACTIVATIONS)),
    "pretrain.noise": st.sampled_from(sorted(NOISES)),
    "pretrain.learning_rate": st.floats(min_value=1e-6, max_value=10.0),
    "finetune.patience": st.integers(min_value=1, max_value=100),
    "pretrain.tied": st.booleans(),
}


def set_key(cfg, key, value):
    *parents, leaf = key.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    with node.ignore_type():
        node[leaf] = value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(INVALID)).flatmap(lambda k: st.tuples(st.just(k), INVALID[k])))
def test_invalid_values_raise_config_error(key_value):
    key, value = key_value
    cfg = base_config()
    set_key(cfg, key, value)
    with pytest.raises(ConfigError):
        validate(cfg)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(VALID)), st.none(), min_size=1).flatmap(
    lambda d: st.fixed_dictionaries({k: VALID[k] for k in d})))
def test_valid_values_pass(values):
    cfg = base_config()
    for key, value in values.items():
        set_key(cfg, key, value)
    validate(cfg)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase + "._", min_size=1, max_size=25).filter(lambda k: k not in SCHEMA),
       st.text(max_size=6))
def test_unknown_keys_raise_config_error(key, value):
    with pytest.raises(ConfigError, match="unknown config key"):
        apply_override(base_config(), key, value)
