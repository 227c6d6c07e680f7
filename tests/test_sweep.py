"""The sweep: shards partition the grid, a killed sweep resumes to the same table, bad input is one sentence."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, run_script_here, tree_snapshot
from stackae.config import load_config
from stackae.errors import ConfigError
from stackae.experiments.sweep import cells, from_csv, mark_selected, shard, summarize, to_markdown
from stackae.experiments.sweep_workdir import parse_shard, report_header

GRID = ["--config.layers=(24,16)", "--config.pretrain.epochs=2", "--config.sweep.methods=(he,dae,dae+pseudo_label)",
        "--config.sweep.labels_per_class=(3,)", "--config.sweep.seeds=2", "--config.sweep.steps=20",
        "--config.sweep.semi_supervised_steps=30", "--config.finetune.pseudo_label_ramp_start=0",
        "--config.finetune.pseudo_label_ramp_end=20", "--config.finetune.unlabelled_batch_size=64",
        "--config.sweep.eval_every=10", "--config.sweep.learning_rates=(0.03,0.1)"]


def test_shards_partition_the_grid_exactly():
    cfg = load_config(None)
    grid = cells(cfg)
    for n in (1, 2, 3, 5, 40):
        parts = [shard(grid, i, n) for i in range(n)]
        assert sorted((c.name for p in parts for c in p)) == sorted(c.name for c in grid)
        assert sum(len(p) for p in parts) == len(grid)
    assert parse_shard("2/3") == (2, 3) and parse_shard(None) == (0, 1)
    for bad in ("3/2", "2/2", "-1/2", "a/b", "1"):
        with pytest.raises(ConfigError, match="is not I/N"):
            parse_shard(bad)


def test_selection_uses_validation_only_and_summary_pairs_by_seed():
    rows = []
    for method, offset in (("he", 0.0), ("dae", -0.02)):
        for seed in (0, 1, 2):
            for lr, valid, test in ((0.1, 0.30, 0.10), (0.03, 0.20, 0.40)):
                rows.append(dict(method=method, labels_per_class=10, labels=100, valid_examples=100, seed=seed,
                                 learning_rate=lr, valid_error=valid + offset, test_error=test + offset + seed / 100,
                                 diverged=False))
    chosen = [r for r in mark_selected(rows) if r["selected"]]
    assert {r["learning_rate"] for r in chosen} == {0.03}  # lowest validation error, though its test error is worse
    summary = {e["method"]: e for e in summarize(mark_selected(rows))}
    assert summary["dae"]["reference"] == "he"
    assert summary["dae"]["diff"] == pytest.approx(-0.02) and summary["dae"]["wins"] == 3
    assert summary["dae"]["diff_ci95"] == pytest.approx(0.0, abs=1e-12)  # the same difference on every seed
    assert summary["dae"]["counterpart"] == "he" and summary["dae"]["counterpart_diff"] == pytest.approx(-0.02)


def test_pretraining_on_top_of_a_remedy_is_paired_with_the_same_remedy_from_random_init():
    rows = [dict(method=m, labels_per_class=10, labels=100, valid_examples=100, seed=s, learning_rate=0.1,
                 valid_error=0.2, test_error=base + s / 100, diverged=False)
            for m, base in (("he", 0.3), ("he+pseudo_label", 0.2), ("dae+pseudo_label", 0.15), ("dae", 0.25))
            for s in (0, 1, 2)]
    summary = {e["method"]: e for e in summarize(mark_selected(rows))}
    assert summary["dae+pseudo_label"]["counterpart"] == "he+pseudo_label"
    assert summary["dae+pseudo_label"]["counterpart_diff"] == pytest.approx(-0.05)
    assert summary["dae+pseudo_label"]["counterpart_wins"] == 3
    assert summary["dae"]["counterpart"] == "he" and summary["he+pseudo_label"]["counterpart"] is None
    assert "| dae+pseudo_label | he+pseudo_label | -5.00 ± 0.00 points | 3/3 |" in to_markdown(list(summary.values()))


def without_timing(path):
    rows = from_csv(path.read_text())
    return [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows]


def sweep_command(workdir, *extra):
    return [sys.executable, "-u", str(ROOT / "scripts" / "sweep.py"), "--workdir", str(workdir), *GRID, *extra]


def test_the_report_speaks_of_all_labels_only_when_that_budget_is_in_the_grid(tmp_path):
    cfg = load_config(None, {"sweep.labels_per_class": "(3,10)"})
    assert "with all labels" not in report_header(cfg, tmp_path, [], 4)
    cfg = load_config(None, {"sweep.labels_per_class": "(3,0)", "sweep.seeds_all_labels": "2"})
    header = report_header(cfg, tmp_path, [], 4)
    assert "(2 with all labels)" in header and "the whole validation split with all labels" in header


@pytest.mark.slow
def test_a_sweep_killed_inside_a_cell_resumes_to_the_same_table(tmp_path):
    """Killed in its last cell (the semi-supervised one) after a checkpoint of that cell: the rerun runs that cell
    alone, from the checkpoint, and gives the uninterrupted sweep's table."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    done = run_script_here("sweep", "--workdir", reference, *GRID)  # in this process: only the killed run needs one
    assert done.returncode == 0, done.stderr[-2000:]
    proc = subprocess.Popen(sweep_command(killed, "--config.sweep.cell_checkpoint_every=1"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    for line in proc.stdout:  # the line of evaluation 2 comes just before its checkpoint; evaluation 1's is saved
        if "3-dae+pseudo_label step 20/30" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert len(list((killed / "cells").glob("*.csv"))) == 2
    again = run_script_here("sweep", "--workdir", killed, *GRID, "--config.sweep.cell_checkpoint_every=1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 to run" in again.stdout and "resuming 3-dae+pseudo_label" in again.stdout
    assert not (killed / "state" / "3-dae+pseudo_label").exists()  # a finished cell's checkpoints are removed
    assert without_timing(killed / "sweep.csv") == without_timing(reference / "sweep.csv")
    rows = from_csv((reference / "sweep.csv").read_text())
    assert len(rows) == 3 * 1 * 2 * 2  # methods x budgets x seeds x learning rates
    assert {r["method"]: r["steps"] for r in rows if r["seed"] == 0 and r["learning_rate"] == 0.1} == \
        {"he": 20, "dae": 20, "dae+pseudo_label": 30}  # budgets per method family (nothing stops before its end)
    assert {r["valid_examples"] for r in rows} == {100}  # at least 10 per class
    for text in ("sweep.md", "sweep.png"):
        assert (reference / text).stat().st_size > 0
    report = (reference / "sweep.md").read_text()
    assert "30 labels (3 per class), 100 validation examples" in report and "Reference" in report


@pytest.mark.parametrize("override, phrase", [
    ("--config.sweep.methods=(he,magic)", "'magic' is not an init"),
    ("--config.sweep.labels_per_class=(500,)", "500 labelled examples per class were asked for"),
    ("--config.sweep.learning_rates=()", "the grid has no values"),
    ("--shard=3/2", "is not I/N"),
])
def test_bad_sweep_input_is_one_sentence_exit_2_and_keeps_files(tmp_path, override, phrase):
    workdir = tmp_path / "w"
    (workdir / "cells").mkdir(parents=True)
    (workdir / "cells" / "keep.csv").write_text("earlier results\n")
    before = tree_snapshot(workdir)
    proc = run_script_here("sweep", "--workdir", str(workdir), *GRID, override)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and phrase in last and "Traceback" not in proc.stderr
    assert tree_snapshot(workdir) == before
