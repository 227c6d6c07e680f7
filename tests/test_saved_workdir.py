"""A workdir written by stackae 0.2.0 (tests/data/workdir-0.2.0: digits, 64-8-4, 2 seeds; pretrain, finetune and
the deep-autoencoder comparison) still loads, reproduces its recorded numbers and is reused by the scripts."""

import json
import shutil

import numpy as np
import pytest

import stackae
from conftest import ROOT, run_script_here

SAVED = ROOT / "tests" / "data" / "workdir-0.2.0"
ARGS = ["--config.layers=(8,4)", "--config.pretrain.epochs=1", "--config.finetune.epochs=2", "--config.seeds=2",
        "--config.diagnostics=False"]


def saved_data(run: str):
    return stackae.load_dataset(stackae.load_config(str(SAVED / run / "config.json")))


def test_saved_classifier_reproduces_its_test_errors():
    run = stackae.load_classifier(SAVED, "pretrained")
    data = saved_data("finetune-pretrained")
    assert len(run.rows) == 2
    for member, row in enumerate(run.rows):
        assert np.mean(run.predict(data.test_x, member) != data.test_y) == pytest.approx(row["test_error"], abs=1e-6)


def test_saved_autoencoder_reproduces_its_squared_errors():
    run = stackae.load_autoencoder(SAVED, "pretrained")
    data = saved_data("autoencoder-pretrained")
    for member, row in enumerate(run.rows):
        error = np.mean(np.sum((run.reconstruct(data.test_x, member) - data.test_x) ** 2, axis=1))
        assert error == pytest.approx(row["test_squared_error"], rel=1e-5)


def test_saved_stack_encodes():
    stack = stackae.load_pretrained(SAVED)
    codes = stack.encode(saved_data("pretrain").valid_x, 1)
    assert codes.shape == (144, 4) and np.isfinite(codes).all() and codes.std() > 0


def test_scripts_reuse_the_saved_runs(tmp_path):
    workdir = tmp_path / "w"
    shutil.copytree(SAVED, workdir)
    before = (workdir / "finetune-pretrained" / "results.json").read_text()
    proc = run_script_here("finetune", "--workdir", str(workdir), *ARGS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (workdir / "finetune-pretrained" / "results.json").read_text() == before
    proc = run_script_here("finetune", "--workdir", str(workdir), "--init", "dae+batch_norm", *ARGS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads((workdir / "finetune-dae+batch_norm" / "results.json").read_text())["per_seed"]
    assert len(rows) == 2


def test_loading_a_run_that_is_not_there_names_the_command_that_writes_it(tmp_path):
    from stackae.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no finished fine-tuning in .*finetune-he; run `python scripts/"
                                              "finetune.py --workdir .* --init he` first"):
        stackae.load_classifier(tmp_path, "he")
    with pytest.raises(CheckpointError, match="no finished deep-autoencoder run in .*autoencoder-random; run `"):
        stackae.load_autoencoder(tmp_path, "random")
