"""Kill a real run with SIGKILL mid-way, re-run the same command, and get bitwise the same parameters."""

import os
import signal
import subprocess
import sys

import jax
import numpy as np

from conftest import ROOT
from stackae.checkpoints import restore_tree

ARGS = ["--config.layers=(32,16)", "--config.pretrain.epochs=(4,40)", "--config.finetune.epochs=40",
        "--config.finetune.patience=40"]


def command(script, workdir, *extra):
    return [sys.executable, "-u", str(ROOT / "scripts" / f"{script}.py"), "--workdir", str(workdir), *ARGS, *extra]


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def run_and_kill(cmd, marker: str):
    """Start `cmd`, SIGKILL it as soon as a stdout line contains `marker`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen[-20:])


def assert_trees_equal(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def test_pretrain_killed_in_layer_2_resumes_to_identical_parameters(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run(command("pretrain", reference))
    run_and_kill(command("pretrain", killed), "layer 2 epoch 12/40")
    assert not (killed / "pretrain" / "summary.json").exists()
    resumed = run(command("pretrain", killed))
    assert "resuming layer 2" in resumed.stdout
    for layer in ("layer_1", "layer_2"):
        assert_trees_equal(restore_tree(reference / "pretrain" / layer), restore_tree(killed / "pretrain" / layer))


def test_finetune_killed_mid_way_resumes_to_identical_results(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run(command("finetune", reference, "--init", "random"))
    run_and_kill(command("finetune", killed, "--init", "random"), "finetune-random epoch 15/40")
    resumed = run(command("finetune", killed, "--init", "random"))
    assert "resuming finetune-random" in resumed.stdout
    assert_trees_equal(restore_tree(reference / "finetune-random" / "best"),
                       restore_tree(killed / "finetune-random" / "best"))
    import json
    a = json.loads((reference / "finetune-random" / "results.json").read_text())
    b = json.loads((killed / "finetune-random" / "results.json").read_text())
    assert a["per_seed"] == b["per_seed"]


def test_reconstruction_killed_mid_way_resumes_to_identical_results(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    extra = ("--objective", "reconstruction", "--init", "he", "--config.autoencoder.epochs=30",
             "--config.autoencoder.patience=30", "--config.autoencoder.batch_size=64")
    run(command("finetune", reference, *extra))
    run_and_kill(command("finetune", killed, *extra), "autoencoder-he epoch 12/30")
    resumed = run(command("finetune", killed, *extra))
    assert "resuming autoencoder-he" in resumed.stdout
    assert_trees_equal(restore_tree(reference / "autoencoder-he" / "best"), restore_tree(killed / "autoencoder-he" / "best"))
    import json
    a = json.loads((reference / "autoencoder-he" / "results.json").read_text())
    b = json.loads((killed / "autoencoder-he" / "results.json").read_text())
    assert a["per_seed"] == b["per_seed"]
