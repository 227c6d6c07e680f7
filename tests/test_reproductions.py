"""Every shipped config validates, and each config that reproduces a paper runs a tiny version end to end."""

import json

import pytest

from conftest import run_script_here
from stackae.config import CONFIGS_DIR, load_config

TINY = ["--config.dataset=digits", "--config.pretrain.epochs=1", "--config.diagnostics=False"]
# config -> (its main job (script and arguments), the tiny version's overrides, a file the job writes); the RBM
# deep autoencoder runs its own arm only (pretrain, then the unrolled stack), not the whole comparison
REPRODUCTIONS = {
    "glorot2011_rectifier": ("compare", ["--config.layers=(16,16,16)"], "comparison.json"),
    "vincent2010_sda3": ("compare", ["--config.layers=(16,16,16)"], "comparison.json"),
    "theano_sda": ("compare", ["--config.layers=(16,16,16)"], "comparison.json"),
    "mnist_dbn": ("compare", ["--config.layers=(16,16,32)"], "comparison.json"),
    "mnist_best": ("compare", ["--config.layers=(16,16,16)"], "comparison-dropout.json"),
    "mnist_autoencoder_rbm": ("finetune --objective reconstruction",
                              ["--config.layers=(16,16,8,2)", "--config.autoencoder.epochs=1"],
                              "autoencoder-pretrained/results.json"),
    "mnist_cae": ("sweep", ["--config.layers=(16,16,16)", "--config.sweep.seeds=1", "--config.sweep.steps=20",
                            "--config.sweep.eval_every=10", "--config.sweep.batch_size=16",
                            "--config.sweep.labels_per_class=(3,)", "--config.sweep.learning_rates=(0.1,)"],
                  "sweep.csv"),
}
FINETUNE = ["--config.finetune.epochs=2", "--config.finetune.patience=2"]


@pytest.mark.parametrize("path", sorted(p.name for p in CONFIGS_DIR.glob("*.py") if p.name != "__init__.py"))
def test_every_shipped_config_validates_and_says_what_it_is(path):
    module = (CONFIGS_DIR / path).read_text()
    assert module.startswith('"""'), f"{path} needs a docstring giving its setup"
    assert load_config(str(CONFIGS_DIR / path)).name == path.removesuffix(".py")


@pytest.mark.slow
@pytest.mark.parametrize("name", REPRODUCTIONS)
def test_a_reproduction_config_runs_a_tiny_version_end_to_end(tmp_path, name):
    job, shrink, written = REPRODUCTIONS[name]
    script, *args = job.split()
    if script == "finetune":
        pretrained = run_script_here("pretrain", f"--config={CONFIGS_DIR / name}.py", "--workdir", tmp_path, *TINY,
                                     *shrink)
        assert pretrained.returncode == 0, pretrained.stderr[-3000:]
    proc = run_script_here(script, *args, f"--config={CONFIGS_DIR / name}.py", "--workdir", tmp_path, *TINY,
                           *shrink, *FINETUNE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / written).exists()
    if script == "finetune":  # the unrolled stack's results name its layer kind
        assert json.loads((tmp_path / written).read_text())["method"] == "rbm"
    if name == "mnist_best":  # both arms fine-tune with dropout: the methods dae+dropout and he+dropout
        comparison = json.loads((tmp_path / written).read_text())
        assert (comparison["pretrained"]["method"], comparison["random"]["method"]) == ("dae+dropout", "he+dropout")
        assert json.loads((tmp_path / "finetune-he+dropout" / "results.json").read_text())["method"] == "he+dropout"
        assert "dae+dropout" in proc.stdout and "he+dropout" in proc.stdout
    saved = json.loads((tmp_path / "pretrain" / "config.json").read_text())
    assert saved["name"] == name
