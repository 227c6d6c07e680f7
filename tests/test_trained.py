"""Using a trained run: load the fine-tuned classifier or the pretrained stack and predict / encode; the
loaded models reproduce the numbers measured in training."""

import numpy as np
import pytest

import stackae
from conftest import run_script_here

TINY = ["--config.layers=(32,16)", "--config.pretrain.epochs=2", "--config.finetune.epochs=4", "--config.seeds=2"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    w = tmp_path_factory.mktemp("trained")
    for args in (("pretrain",), ("finetune",), ("finetune", "--init", "he+batch_norm")):
        proc = run_script_here(args[0], "--workdir", str(w), *TINY, *args[1:])
        assert proc.returncode == 0, proc.stderr[-2000:]
    return w


@pytest.mark.parametrize("init", ["pretrained", "he+batch_norm"])
def test_loaded_classifier_predicts_what_training_measured(workdir, init):
    run = stackae.load_classifier(workdir, init)
    data = stackae.load_dataset(stackae.load_config(str(workdir / f"finetune-{init}" / "config.json")))
    for member, row in enumerate(run.rows):
        error = np.mean(run.predict(data.test_x, member) != data.test_y)
        assert error == pytest.approx(row["test_error"], abs=1e-6)
    assert run.encode(data.test_x[:5], 1).shape == (5, 16)
    hidden = run.hidden(data.test_x[:5], 1)
    assert [h.shape for h in hidden] == [(5, 32), (5, 16)]
    np.testing.assert_array_equal(hidden[-1], run.encode(data.test_x[:5], 1))


def test_encode_script_writes_the_stack_codes(workdir, tmp_path):
    out = tmp_path / "codes.npy"
    proc = run_script_here("encode", "--workdir", str(workdir), "--split", "valid", "--member", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    stack = stackae.load_pretrained(workdir)
    data = stackae.load_dataset(stackae.load_config(str(workdir / "pretrain" / "config.json")))
    np.testing.assert_allclose(np.load(out), stack.encode(data.valid_x, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.load(tmp_path / "codes-labels.npy"), data.valid_y)


def test_encode_refuses_a_missing_run_and_a_bad_member(workdir, tmp_path):
    proc = run_script_here("encode", "--workdir", str(tmp_path / "none"), "--out", str(tmp_path / "c.npy"))
    assert proc.returncode == 2 and "no finished pretraining" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_script_here("encode", "--workdir", str(workdir), "--member", "7", "--out", str(tmp_path / "c.npy"))
    assert proc.returncode == 2 and "--member 7 is not one of the run's 2 seeds" in proc.stderr
