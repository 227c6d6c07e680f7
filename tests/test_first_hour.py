"""The first hour of a new user: Ctrl-C, two runs on one workdir, mismatched configs, early stopping, --help."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, run_script_here, tiny_config
from stackae.errors import ConfigError
from stackae.workdir.checkpoints import ResumeCheckpoints, interrupt_deferred
from stackae.workdir.runs import prepare_run_dir, record_config

LONG = ["--config.layers=(32,16)", "--config.pretrain.epochs=200"]  # still running when interrupted


def start(workdir, *args):
    """Start scripts/pretrain.py on `workdir`, stdout and stderr merged, unbuffered."""
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "pretrain.py"), "--workdir", str(workdir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"))


def wait_for(proc, marker: str) -> str:
    """Read `proc`'s output line by line until a line contains `marker`; returns the output so far."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    proc.wait(timeout=60)
    raise AssertionError(f"'{marker}' never appeared:\n" + "".join(seen)[-3000:])


def interrupt(proc, seen: str) -> str:
    """Send Ctrl-C; check the run ends quietly with exit 130; returns its whole output."""
    proc.send_signal(signal.SIGINT)
    out = seen + proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out and "ERROR:absl" not in out, out[-3000:]
    assert out.strip().splitlines()[-1].startswith("interrupted; re-run the same command"), out[-3000:]
    return out


def unfinished(workdir):
    return [str(p) for p in workdir.rglob("*orbax-checkpoint-tmp*")]


def test_ctrl_c_ends_quietly_leaves_nothing_half_written_and_the_rerun_resumes(tmp_path):
    workdir = tmp_path / "w"
    proc = start(workdir, *LONG)
    interrupt(proc, wait_for(proc, "layer 1 epoch 2/200"))
    assert not unfinished(workdir)
    proc = start(workdir, *LONG)
    seen = wait_for(proc, "resuming layer 1")
    interrupt(proc, seen + wait_for(proc, "layer 1 epoch"))
    assert not unfinished(workdir)


def test_second_run_on_a_busy_workdir_is_refused_and_a_killed_run_leaves_no_stuck_lock(tmp_path):
    workdir = tmp_path / "w"
    first = start(workdir, *LONG)
    wait_for(first, "layer 1 epoch 1/200")
    second = run_script_here("pretrain", "--workdir", str(workdir), *LONG)
    last = second.stderr.strip().splitlines()[-1]
    assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr[-3000:]
    assert last.startswith("error: another run is using") and str(workdir) in last, last
    wait_for(first, "layer 1 epoch 3/200")  # epoch 2's checkpoint is saved: the third run has one to resume from
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert (workdir / "pretrain" / ".lock").exists()
    third = start(workdir, *LONG)
    interrupt(third, wait_for(third, "resuming layer 1"))


def test_ctrl_c_during_a_save_is_held_back_until_the_save_is_done():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append(True)
    assert done
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_leftovers_of_a_killed_save_are_removed(tmp_path):
    (tmp_path / "state" / "3.orbax-checkpoint-tmp-1234" / "state").mkdir(parents=True)
    ResumeCheckpoints(tmp_path / "state").close()
    assert not unfinished(tmp_path)


def test_mismatched_config_names_the_differing_keys(tmp_path):
    out = tmp_path / "pretrain"
    cfg = tiny_config()
    assert prepare_run_dir(out, cfg, "summary.json", False, print) is None
    record_config(out, cfg)
    other = tiny_config(noise_level=0.5)
    other.layers = (32, 8)
    with pytest.raises(ConfigError) as e:
        prepare_run_dir(out, other, "summary.json", False, print)
    assert "holds an unfinished run with a different config" in str(e.value)
    assert "pretrain.noise_level: saved 0.25, now 0.5" in str(e.value)
    assert "layers: saved (32, 16), now (32, 8)" in str(e.value)
    many = tiny_config(noise_level=0.5, epochs=4, batch_size=8, momentum=0.5, l2_weight=0.1, l1_weight=0.1,
                       learning_rate=0.1)
    with pytest.raises(ConfigError, match=r"and 2 more"):
        prepare_run_dir(out, many, "summary.json", False, print)


def test_only_keys_that_change_a_result_are_compared(tmp_path):
    out = tmp_path / "pretrain"
    cfg = tiny_config()
    record_config(out, cfg)
    harmless = tiny_config()
    harmless.manual_dir, harmless.data_dir, harmless.download_retries, harmless.checkpoint_every = "/x", "/y", 0, 5
    assert prepare_run_dir(out, harmless, "summary.json", False, print) is None
    pretrain_keys = ("dataset", "layers", "seed", "seeds", "pretrain.")
    later = tiny_config()
    later.finetune.epochs, later.name = 7, "renamed"
    assert prepare_run_dir(out, later, "summary.json", False, print, compared_keys=pretrain_keys) is None
    with pytest.raises(ConfigError, match="finetune.epochs: saved 25, now 7"):
        prepare_run_dir(out, later, "summary.json", False, print)
    more_seeds = tiny_config()
    more_seeds.seeds = 3
    assert prepare_run_dir(out, more_seeds, "summary.json", False, print, compared_keys=("seed",)) is None
    with pytest.raises(ConfigError, match="seeds: saved 1, now 3"):
        prepare_run_dir(out, more_seeds, "summary.json", False, print, compared_keys=pretrain_keys)


def test_early_stopping_says_so(tmp_path):
    proc = run_script_here("finetune", "--workdir", str(tmp_path), "--init", "random", "--config.layers=(32,16)",
                           "--config.finetune.epochs=100", "--config.finetune.patience=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next((l for l in proc.stdout.splitlines() if "stopped early at epoch" in l), None)
    assert line and "validation error had not improved for 2 epochs" in line, proc.stdout[-3000:]
    assert "best epoch (" in line and "are restored" in line and "/100" in line


def test_help_lists_every_config_key_with_its_default():
    proc = run_script_here("pretrain", "--help")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    noise = [l for l in lines if l.split()[:1] == ["pretrain.noise_level"]]
    assert noise and "0.25" in noise[0]
    assert any(l.split()[:1] == ["finetune.patience"] for l in lines)
    assert any("hidden layer sizes" in l for l in lines if l.split()[:1] == ["layers"])


def test_an_interrupt_that_jax_reports_as_another_error_still_ends_quietly(capsys):
    """A Ctrl-C landing in JAX's cache lookup comes back as a ValueError with no link to the KeyboardInterrupt."""
    import logging
    import time

    from stackae import cli

    def main():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass
        raise ValueError("Cache keys should be comparable using __eq__")

    try:
        with pytest.raises(SystemExit) as e:
            cli.run_main(main)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        logging.getLogger("absl").disabled = False
        cli._interrupted.clear()
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("interrupted; re-run the same command") and "Traceback" not in err
