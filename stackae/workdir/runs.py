"""Workdir bookkeeping shared by pretraining and fine-tuning: run-folder lock, finished-run guard, saved config
(mismatches named key by key), epoch logging."""

import json
import pathlib
import shutil

import jax
import numpy as np

from stackae.config import config_from_json
from stackae.core.optim import rate_factors
from stackae.errors import CheckpointError, ConfigError
from stackae.workdir.checkpoints import ResumeCheckpoints, read_json, write_json
from stackae.workdir.locks import lock_run_dir

# Keys that never change a result: never a reason to refuse a run folder.
NEVER_COMPARED = ("manual_dir", "data_dir", "download_retries", "checkpoint_every", "diagnostics")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


_MISSING = object()


def _shown(v) -> str:
    def tuples(x):
        return tuple(tuples(i) for i in x) if isinstance(x, list) else x
    return "(missing)" if v is _MISSING else repr(tuples(v))


def _differing_keys(saved, cfg, compared_keys=None) -> tuple[dict, dict, list[str]]:
    a, b = _flat(json.loads(saved.to_json())), _flat(json.loads(cfg.to_json()))

    def compared(key):
        return key not in NEVER_COMPARED and (compared_keys is None or any(
            key == p or key.startswith(p if p.endswith(".") else p + ".") for p in compared_keys))

    return a, b, [k for k in sorted(a.keys() | b.keys()) if compared(k) and a.get(k, _MISSING) != b.get(k, _MISSING)]


def config_differences(saved, cfg, compared_keys=None) -> list[str]:
    """'key: saved A, now B' for each key that differs, among `compared_keys` (dotted prefixes such as
    "pretrain." or "seed"; None: every key), never counting NEVER_COMPARED."""
    a, b, keys = _differing_keys(saved, cfg, compared_keys)
    return [f"{k}: saved {_shown(a.get(k, _MISSING))}, now {_shown(b.get(k, _MISSING))}" for k in keys]


def _longer_only(saved, cfg, compared_keys, section: str, epochs_run) -> tuple[int, int] | None:
    """(epochs run so far, new epochs) when `cfg` asks for more `<section>.epochs` than were run (`epochs_run()`,
    read only for a run that qualifies; None: the saved config's epochs) and differs from `saved` otherwise at
    most in the section's learning-rate drops, under a constant schedule (else None); a drop that would change
    the rate of an epoch already run is refused in one sentence, so every update made so far is the same under
    the longer run."""
    a, b, keys = _differing_keys(saved, cfg, compared_keys)
    key = f"{section}.epochs"
    drops = (f"{section}.rate_drop_epochs", f"{section}.rate_drop_factor")
    if not keys or set(keys) - {key, *drops} or a.get(f"{section}.schedule") != "constant":
        return None
    done = epochs_run()
    done = a[key] if done is None else done
    if not b[key] > done:
        return None
    rates = [rate_factors(done, a.get(drops[0], ()), a.get(drops[1], 1.0)),
             rate_factors(done, b.get(drops[0], ()), b.get(drops[1], 1.0))]
    if not np.array_equal(*rates):
        raise ConfigError(
            f"{drops[0]}={tuple(b.get(drops[0], ()))} (factor {b.get(drops[1])}) would change the rate of epochs "
            f"this run has already made ({done} so far); put new drops at or after epoch {done}, or pass "
            "--overwrite to start over.")
    return done, b[key]


def _epochs_run(out: pathlib.Path) -> int | None:
    """Epochs recorded by the latest resume checkpoint in out/state, or None where there is none."""
    if not (out / "state").is_dir():
        return None
    checkpoints = ResumeCheckpoints(out / "state")
    position = checkpoints.latest_position()
    checkpoints.close()
    return None if position is None else position["epoch"]


def _named(diffs: list[str], most: int = 5) -> str:
    more = f"; and {len(diffs) - most} more" if len(diffs) > most else ""
    return "; ".join(diffs[:most]) + more


def prepare_run_dir(out: pathlib.Path, cfg, finished_file: str | None, overwrite: bool, log,
                    compared_keys=None, extendable: str | None = None) -> dict | None:
    """Lock `out` for this process (see stackae.workdir.locks); return the finished result if `out` holds one for this
    config (unless overwrite; never when `finished_file` is None); refuse a run of `out` whose config differs in
    `compared_keys` (dotted prefixes; None: every key), finished or not, naming the differing keys.

    A run may be trained longer: when the config asks for more `<extendable>.epochs` than were run, under a
    constant schedule, at most adding learning-rate drops after the epochs run, the new config is saved, a
    finished N-epoch result is kept as <name>-<N>-epochs.json (its best parameters as best-<N>-epochs), and the
    caller resumes from the last checkpoint."""
    if jax.process_index() == 0:  # the processes of one multi-host run share the folder
        lock_run_dir(out)
    if overwrite and out.exists():
        for child in out.iterdir():  # keep the .lock this process holds
            if child.is_dir():
                shutil.rmtree(child)
            elif child.name != ".lock":
                child.unlink()
    saved = out / "config.json"
    saved_cfg = config_from_json(saved.read_text()) if saved.exists() else None
    diffs = config_differences(saved_cfg, cfg, compared_keys) if saved_cfg is not None else []
    longer = _longer_only(saved_cfg, cfg, compared_keys, extendable, lambda: _epochs_run(out)) \
        if diffs and extendable else None
    if longer is not None:
        finished = out / finished_file
        epochs = saved_cfg[extendable].epochs
        kept = out / f"{finished.stem}-{epochs}-epochs{finished.suffix}"
        if finished.exists():
            finished.rename(kept)
            if (out / "best").exists():
                (out / "best").rename(out / f"best-{epochs}-epochs")
        write_json(saved, cfg.to_dict())
        log(f"training {out} on to {longer[1]} epochs (from {longer[0]})"
            + (f"; {kept.name} keeps the {epochs}-epoch result" if kept.exists() else ""))
        diffs = []
    done = finished_file is not None and (out / finished_file).exists()
    if diffs:
        state = "finished" if done else "unfinished"
        raise ConfigError(
            f"{out} holds {'a' if state == 'finished' else 'an'} {state} run with a different config "
            f"({_named(diffs)}; see {saved}); pass "
            f"--config={saved} to {'reuse' if state == 'finished' else 'resume'} it, --overwrite to discard it, "
            "or another --workdir."
        )
    if done:
        log(f"{out} already holds this finished run; pass --overwrite to redo it.")
        return read_json(out / finished_file)
    return None


def run_study(out: pathlib.Path, cfg, cells, check_cell, load_data, run_cell, table, report_name: str,
              overwrite: bool, log) -> dict:
    """The workdir layer of a study: lock and check `out`; `check_cell(cell)` for every cell before anything is
    written (one-sentence errors); record the config; `load_data()`; run the cells resumably with
    `run_cell(data, cell)`; write out/<report_name> with every cell's result and `table(results)`."""
    prepare_run_dir(out, cfg, None, overwrite, log)
    for cell in cells:
        check_cell(cell)
    record_config(out, cfg)
    data = load_data()
    results = run_cells(out, cells, lambda cell: run_cell(data, cell), log)
    report = {"cells": results, "table": table(results)}
    write_json(out / report_name, report)
    return report


def run_cells(out: pathlib.Path, cells, run_cell, log) -> dict:
    """{cell.name: result} of a study's cells: read from out/cells/<name>.json where an earlier run finished the
    cell, else computed by `run_cell(cell)` and saved there at once (an interrupted study resumes at its first
    unfinished cell)."""
    results = {}
    for i, cell in enumerate(cells):
        path = out / "cells" / f"{cell.name}.json"
        if path.exists():
            results[cell.name] = read_json(path)
            continue
        log(f"cell {i + 1}/{len(cells)}: {cell.name}")
        results[cell.name] = run_cell(cell)
        write_json(path, results[cell.name])
    return results


def read_finished_run(out: pathlib.Path, what: str, command: str):
    """(results.json, config) of the finished run in `out`; a missing one is named with the `command` that
    writes it."""
    if not (out / "results.json").exists():
        raise CheckpointError(f"no finished {what} in {out}; run `{command}` first.")
    return read_json(out / "results.json"), config_from_json((out / "config.json").read_text())


def record_config(out: pathlib.Path, cfg):
    """Save the config of a run that passed every input check (so a failed start leaves no stale config)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "config.json").exists():
        write_json(out / "config.json", cfg.to_dict())








