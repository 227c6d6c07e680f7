"""The scripts end to end: real runs on tiny digits configs, and bad input -> one sentence, exit 2, nothing lost."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_script, run_script_here, script_env, tree_snapshot

TINY = ["--config.layers=(32,16)", "--config.pretrain.epochs=3", "--config.finetune.epochs=30",
        "--config.finetune.patience=30"]


def one_sentence_error(proc, phrase):
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and phrase in last, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    proc = run_script_here("pretrain", "--workdir", str(workdir), *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir


def test_pretrain_script_writes_summary_and_layer_checkpoints(pretrained):
    summary = json.loads((pretrained / "pretrain" / "summary.json").read_text())
    assert [l["n_hidden"] for l in summary["layers"]] == [32, 16]
    for layer in summary["layers"]:
        assert {"n_in", "n_hidden", "train_reconstruction", "valid_reconstruction", "sparsity", "epochs",
                "seconds"} <= set(layer)
    assert (pretrained / "pretrain" / "layer_1").is_dir() and (pretrained / "pretrain" / "layer_2").is_dir()
    assert (pretrained / "pretrain" / "config.json").is_file()


@pytest.mark.parametrize("init", ["pretrained", "random"])
def test_finetune_beats_chance_by_far(pretrained, init):
    proc = run_script_here("finetune", "--workdir", str(pretrained), "--init", init, *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((pretrained / f"finetune-{init}" / "results.json").read_text())
    for key in ("dataset", "init", "labels_used", "valid_error", "test_error", "best_epoch", "epochs", "seconds",
                "seed"):
        assert key in r
    assert r["init"] == init and r["dataset"] == "digits"
    assert r["test_error"] < 0.15  # chance is 0.9


def test_rerun_of_finished_run_says_so_and_keeps_files(pretrained):
    before = tree_snapshot(pretrained / "pretrain")
    proc = run_script_here("pretrain", "--workdir", str(pretrained), *TINY)
    assert proc.returncode == 0 and "already holds this finished run" in proc.stdout + proc.stderr
    assert tree_snapshot(pretrained / "pretrain") == before


def test_finetune_refuses_mismatched_checkpoint_and_writes_nothing(pretrained):
    before = tree_snapshot(pretrained)
    proc = run_script_here("finetune", "--workdir", str(pretrained), "--config.layers=(32,8)")
    one_sentence_error(proc, "has layers=(32, 16) but this config has layers=(32, 8)")
    assert tree_snapshot(pretrained) == before


def test_finetune_without_pretraining_says_what_to_run(tmp_path):
    proc = run_script_here("finetune", "--workdir", str(tmp_path / "empty"))
    one_sentence_error(proc, "no finished pretraining")


@pytest.mark.parametrize("override, phrase", [
    ("--config.dataset=no_such_dataset", "unknown dataset 'no_such_dataset'"),
    ("--config.pretrain.activation=relux", "choose one of"),
    ("--config.pretrain.noise=speckle", "choose one of"),
    ("--config.pretrain.noise_level=1.5", "in [0, 1)"),
    ("--config.layers=()", "non-empty tuple of positive ints"),
    ("--config.pretrain.epoch=3", "did you mean 'pretrain.epochs'"),
    ("--config.finetune.compare_remedies=dropout+ladder", "remedies joined by +, from batch_norm, dropout"),
])
def test_bad_input_to_pretrain_is_one_sentence_and_exit_2(tmp_path, override, phrase):
    proc = run_script_here("pretrain", "--workdir", str(tmp_path / "w" / "run"), override)
    one_sentence_error(proc, phrase)
    assert not (tmp_path / "w").exists()  # no empty run folder is left behind


def test_unreachable_download_without_manual_dir(tmp_path):
    proc = run_script_here("pretrain", "--workdir", str(tmp_path / "w"), "--config.dataset=kmnist",
                           f"--config.data_dir={tmp_path / 'tfds'}", "--config.download_retries=0")
    if proc.returncode == 0:
        pytest.skip("this machine can download datasets")
    one_sentence_error(proc, "pass --config.manual_dir=DIR")


def test_nan_learning_rate_stops_with_a_message_and_keeps_a_good_checkpoint(tmp_path):
    workdir = tmp_path / "w"
    proc = run_script_here("pretrain", "--workdir", str(workdir), *TINY, "--config.pretrain.learning_rate=1e30")
    one_sentence_error(proc, "pretraining layer 1 diverged")
    assert "learning_rate=1e+30" in proc.stderr
    from stackae.workdir.checkpoints import ResumeCheckpoints
    resume = ResumeCheckpoints(workdir / "pretrain" / "state")
    position = resume.latest_position()
    import orbax.checkpoint as ocp
    state = resume.manager.restore(position["step"], args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
    resume.close()
    leaves = [np.asarray(x) for x in __import__("jax").tree.leaves(state["params"])]
    assert leaves and all(np.all(np.isfinite(x)) for x in leaves)  # the last good state, not NaN
    assert not (workdir / "pretrain" / "summary.json").exists()


def test_corrupt_layer_checkpoint_is_named_in_one_sentence(pretrained, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(pretrained, copy)
    shutil.rmtree(copy / "finetune-pretrained", ignore_errors=True)
    for f in (copy / "pretrain" / "layer_2").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    before = tree_snapshot(copy / "pretrain")
    proc = run_script_here("finetune", "--workdir", str(copy), *TINY)
    one_sentence_error(proc, "layer_2 is corrupt")
    assert tree_snapshot(copy / "pretrain") == before


def test_corrupt_resume_checkpoint_is_named_in_one_sentence(tmp_path):
    workdir = tmp_path / "w"
    proc = run_script_here("pretrain", "--workdir", str(workdir), *TINY, "--config.pretrain.learning_rate=1e30")
    assert proc.returncode == 2
    for f in (workdir / "pretrain" / "state").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    proc = run_script_here("pretrain", "--workdir", str(workdir), *TINY, "--config.pretrain.learning_rate=1e30")
    one_sentence_error(proc, "is corrupt")


def test_finished_run_with_a_different_config_is_refused(pretrained):
    before = tree_snapshot(pretrained / "pretrain")
    proc = run_script_here("pretrain", "--workdir", str(pretrained), *TINY, "--config.pretrain.noise_level=0.5")
    one_sentence_error(proc, "holds a finished run with a different config")
    assert tree_snapshot(pretrained / "pretrain") == before


def test_finetune_defaults_to_the_config_saved_by_pretraining(pretrained, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(pretrained / "pretrain", copy / "pretrain")
    proc = run_script_here("finetune", "--workdir", str(copy), "--config.finetune.epochs=3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "using the config saved by pretraining" in proc.stdout


def test_a_failed_start_leaves_no_config_behind(tmp_path):
    workdir = tmp_path / "w"
    proc = run_script_here("pretrain", "--workdir", str(workdir), *TINY, "--config.pretrain.batch_size=100000")
    one_sentence_error(proc, "fewer than batch_size=100000")
    assert not workdir.exists()


def test_scripts_keep_compiled_programs_for_later_runs(tmp_path):
    """Without JAX_COMPILATION_CACHE_DIR the scripts keep compiled programs under $XDG_CACHE_HOME/stackae/xla,
    capped at STACKAE_COMPILATION_CACHE_GB; STACKAE_COMPILATION_CACHE=off turns that off, --clear-cache empties
    it."""
    env = {"JAX_COMPILATION_CACHE_DIR": None, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    off = subprocess.run([sys.executable, "-c", "from stackae.workdir.compilation_cache import "
                          "enable_compilation_cache as e; print(e())"], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, env=script_env({**env, "STACKAE_COMPILATION_CACHE": "off"}))
    assert off.stdout.strip() == "None" and not (tmp_path / "cache").exists(), off.stderr[-2000:]
    on = run_script("pretrain", "--workdir", str(tmp_path / "run"), *TINY, "--config.pretrain.epochs=1", env=env)
    assert on.returncode == 0, on.stderr[-2000:]
    kept = [p for p in (tmp_path / "cache" / "stackae" / "xla").rglob("*") if p.is_file()]
    assert any("compiled_epoch" in p.name for p in kept), kept
    capped = subprocess.run([sys.executable, "-c", "import jax; from stackae.workdir.compilation_cache import "
                             "enable_compilation_cache as e; e(); print(jax.config.jax_compilation_cache_max_size)"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env=script_env({**env, "STACKAE_COMPILATION_CACHE_GB": "0.5"}))
    assert capped.stdout.strip() == str(2**29), capped.stderr[-2000:]
    bad = run_script("pretrain", "--workdir", str(tmp_path / "run"), *TINY, env={**env,
                     "STACKAE_COMPILATION_CACHE_GB": "lots"})
    one_sentence_error(bad, "STACKAE_COMPILATION_CACHE_GB='lots' is not a positive number")
    cleared = run_script("pretrain", "--workdir", str(tmp_path / "run"), *TINY, "--config.pretrain.epochs=1",
                         "--clear-cache", env=env)
    assert cleared.returncode == 0 and "cleared the compilation cache" in cleared.stdout, cleared.stderr[-2000:]
    assert not any("compiled_epoch" in p.name for p in (tmp_path / "cache").rglob("*"))  # reused run: no compile
