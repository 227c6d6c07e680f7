"""Kill a real run with SIGKILL mid-way, re-run the same command, and get bitwise the same parameters."""

import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import ROOT, run_script_here
from stackae.workdir.checkpoints import restore_tree

pytestmark = pytest.mark.slow

ARGS = ["--config.layers=(32,16)", "--config.pretrain.epochs=(4,40)", "--config.finetune.epochs=40",
        "--config.finetune.patience=40"]


def command(script, workdir, *extra):
    return [sys.executable, "-u", str(ROOT / "scripts" / f"{script}.py"), "--workdir", str(workdir), *ARGS, *extra]


def run(script, workdir, *extra):
    """Run the script to its end in this process (only the killed runs need a process of their own)."""
    proc = run_script_here(script, "--workdir", workdir, *ARGS, *extra)
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


def test_pretrain_killed_mid_layer_resumes_to_identical_parameters_for_every_layer_kind(tmp_path):
    # a DAE, a contractive and an RBM layer (Gaussian-Bernoulli, persistent CD, momentum 0.5 for 5 epochs then 0.9: the chains and
    # the momentum's step count are restored too); killed in the DAE's epochs, then in the RBM's
    kinds = ["--config.layers=(32,16,16)", "--config.pretrain.layer=(dae,cae,rbm)", "--config.pretrain.epochs=(8,4,20)",
             "--config.pretrain.persistent=True", "--config.pretrain.momentum_warmup_epochs=(0,0,5)",
             "--config.pretrain.activation=(relu,relu,sigmoid)"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run("pretrain", reference, *kinds)
    run_and_kill(command("pretrain", killed, *kinds), "layer 1 epoch 4/8")
    run_and_kill(command("pretrain", killed, *kinds), "layer 3 epoch 8/20")
    assert not (killed / "pretrain" / "summary.json").exists()
    resumed = run("pretrain", killed, *kinds)
    assert "resuming layer 3" in resumed.stdout
    for layer in ("layer_1", "layer_2", "layer_3"):
        assert_trees_equal(restore_tree(reference / "pretrain" / layer), restore_tree(killed / "pretrain" / layer))


@pytest.mark.parametrize("init, extra, kill_at", [
    ("random", (), "15/40"),
    # a ladder epoch costs several of the plain network's: 20 epochs, killed at the 8th
    ("ladder", ("--config.labels_per_class=10", "--config.finetune.epochs=20", "--config.finetune.patience=20"),
     "8/20"),
])
def test_finetune_killed_mid_way_resumes_to_identical_results(tmp_path, init, extra, kill_at):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run("finetune", reference, "--init", init, *extra)
    run_and_kill(command("finetune", killed, "--init", init, *extra), f"finetune-{init} epoch {kill_at}")
    resumed = run("finetune", killed, "--init", init, *extra)
    assert f"resuming finetune-{init}" in resumed.stdout
    assert_trees_equal(restore_tree(reference / f"finetune-{init}" / "best"),
                       restore_tree(killed / f"finetune-{init}" / "best"))
    a = json.loads((reference / f"finetune-{init}" / "results.json").read_text())
    b = json.loads((killed / f"finetune-{init}" / "results.json").read_text())
    assert a["per_seed"] == b["per_seed"]


def test_reconstruction_killed_mid_way_resumes_to_identical_results(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    extra = ("--objective", "reconstruction", "--init", "he", "--config.autoencoder.epochs=30",
             "--config.autoencoder.patience=30", "--config.autoencoder.batch_size=64")
    run("finetune", reference, *extra)
    run_and_kill(command("finetune", killed, *extra), "autoencoder-he epoch 12/30")
    resumed = run("finetune", killed, *extra)
    assert "resuming autoencoder-he" in resumed.stdout
    assert_trees_equal(restore_tree(reference / "autoencoder-he" / "best"), restore_tree(killed / "autoencoder-he" / "best"))
    import json
    a = json.loads((reference / "autoencoder-he" / "results.json").read_text())
    b = json.loads((killed / "autoencoder-he" / "results.json").read_text())
    assert a["per_seed"] == b["per_seed"]


def test_a_finished_reconstruction_run_given_more_epochs_trains_on_to_the_longer_run(tmp_path):
    import json

    import pytest

    from conftest import tiny_config
    from stackae.errors import ConfigError
    from stackae.workdir.autoencoder import reconstruction_run

    def cfg(epochs, schedule="constant"):
        c = tiny_config()
        c.autoencoder.epochs, c.autoencoder.patience, c.autoencoder.batch_size = epochs, 10, 64
        c.autoencoder.schedule = schedule
        return c

    straight = reconstruction_run(cfg(6), tmp_path / "straight", init="he", log=lambda s: None)
    first = reconstruction_run(cfg(3), tmp_path / "longer", init="he", log=lambda s: None)
    lines = []
    longer = reconstruction_run(cfg(6), tmp_path / "longer", init="he", log=lines.append)
    assert any("on to 6 epochs (from 3)" in line for line in lines) and "resuming autoencoder-he at epoch 4" in lines
    kept = json.loads((tmp_path / "longer" / "autoencoder-he" / "results-3-epochs.json").read_text())
    assert kept["per_seed"] == first["per_seed"] and kept["epochs"] == 3
    assert longer["per_seed"] == straight["per_seed"] and len(longer["history"]) == 6
    assert_trees_equal(restore_tree(tmp_path / "straight" / "autoencoder-he" / "best"),
                       restore_tree(tmp_path / "longer" / "autoencoder-he" / "best"))
    # a decaying schedule would have made different updates: refused, nothing touched
    reconstruction_run(cfg(3, "cosine"), tmp_path / "cosine", init="he", log=lambda s: None)
    with pytest.raises(ConfigError, match="autoencoder.epochs: saved 3, now 6"):
        reconstruction_run(cfg(6, "cosine"), tmp_path / "cosine", init="he", log=lambda s: None)
    assert not (tmp_path / "cosine" / "autoencoder-he" / "results-3-epochs.json").exists()


def test_a_stopped_reconstruction_run_trains_on_with_a_rate_drop_after_the_epochs_it_has_run(tmp_path):
    import json
    import shutil

    import pytest

    from conftest import tiny_config
    from stackae.errors import ConfigError
    from stackae.workdir.autoencoder import reconstruction_run

    def cfg(epochs, drops=()):
        c = tiny_config()
        c.autoencoder.epochs, c.autoencoder.patience, c.autoencoder.batch_size = epochs, 10, 64
        c.autoencoder.rate_drop_epochs, c.autoencoder.rate_drop_factor = drops, 0.1
        return c

    quiet = lambda s: None  # noqa: E731
    straight = reconstruction_run(cfg(6, (3,)), tmp_path / "straight", init="he", log=quiet)
    # the state of a 10-epoch constant-rate run stopped after 3 epochs (its last checkpoint says 3)
    reconstruction_run(cfg(3), tmp_path / "stopped", init="he", log=quiet)
    run_dir = tmp_path / "stopped" / "autoencoder-he"
    (run_dir / "results.json").unlink()  # a stopped run has neither results nor best parameters
    shutil.rmtree(run_dir / "best")
    saved = json.loads((run_dir / "config.json").read_text())
    saved["autoencoder"]["epochs"] = 10
    (run_dir / "config.json").write_text(json.dumps(saved))
    # a drop inside the epochs already run would change updates made so far: refused, nothing touched
    with pytest.raises(ConfigError, match=r"rate_drop_epochs=\(2,\) .* already made \(3 so far\); put new drops at"):
        reconstruction_run(cfg(6, (2,)), tmp_path / "stopped", init="he", log=quiet)
    assert json.loads((run_dir / "config.json").read_text()) == saved
    lines = []
    resumed = reconstruction_run(cfg(6, (3,)), tmp_path / "stopped", init="he", log=lines.append)
    assert any("on to 6 epochs (from 3)" in line for line in lines) and "resuming autoencoder-he at epoch 4" in lines
    # the same updates as one run with the drop, up to float rounding: the first three epochs were compiled without
    # the rate multiply, which lets XLA contract the update into other fused multiply-adds
    errors = lambda run: [r["test_squared_error"] for r in run["per_seed"]]  # noqa: E731
    np.testing.assert_allclose(errors(resumed), errors(straight), rtol=1e-5)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6),
                 restore_tree(tmp_path / "straight" / "autoencoder-he" / "best"), restore_tree(run_dir / "best"))
