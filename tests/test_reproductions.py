"""Every shipped config validates, and each config that reproduces a paper runs a tiny version end to end."""

import json

import pytest

from conftest import run_script_here
from stackae.config import CONFIGS_DIR, load_config

REPRODUCTIONS = ("glorot2011_rectifier", "vincent2010_sda3", "theano_sda")
TINY = ["--config.dataset=digits", "--config.layers=(16,16,16)", "--config.pretrain.epochs=1",
        "--config.finetune.epochs=2", "--config.finetune.patience=2", "--config.diagnostics=False"]


@pytest.mark.parametrize("path", sorted(p.name for p in CONFIGS_DIR.glob("*.py") if p.name != "__init__.py"))
def test_every_shipped_config_validates_and_says_what_it_is(path):
    module = (CONFIGS_DIR / path).read_text()
    assert module.startswith('"""'), f"{path} needs a docstring giving its setup"
    assert load_config(str(CONFIGS_DIR / path)).name == path.removesuffix(".py")


@pytest.mark.parametrize("name", REPRODUCTIONS)
def test_a_reproduction_config_runs_a_tiny_version_end_to_end(tmp_path, name):
    proc = run_script_here("compare", f"--config={CONFIGS_DIR / name}.py", "--workdir", tmp_path, *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    assert {"pretrained", "random", "pretrained_minus_random"} <= comparison.keys()
    saved = json.loads((tmp_path / "pretrain" / "config.json").read_text())
    assert saved["name"] == name and saved["layers"] == [16, 16, 16]
