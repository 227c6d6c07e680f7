"""Workdir bookkeeping shared by pretraining and fine-tuning: run-folder lock, finished-run guard, saved config
(mismatches named key by key), epoch logging."""

import json
import pathlib
import shutil
import time

import jax
import numpy as np
from tqdm import tqdm

from stackae.checkpoints import ResumeCheckpoints, read_json, write_json
from stackae.config import config_from_json
from stackae.errors import ConfigError, DivergedError
from stackae.locks import lock_run_dir
from stackae.optim import rate_factors


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
    """Lock `out` for this process (see stackae.locks); return the finished result if `out` holds one for this
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


def resume_states(resume, states, log, what: str):
    """(states, first epoch, history) to continue from: the latest checkpoint of `resume` if it holds one (said
    in the log as "resuming <what> <epoch>"), else the given states from the start."""
    position = resume.latest_position() if resume is not None else None
    if not position:
        return states, 0, []
    log(f"resuming {what} {position['epoch'] + 1}")
    return resume.restore_state(position["step"], states), position["epoch"], position["history"]


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


def record_config(out: pathlib.Path, cfg):
    """Save the config of a run that passed every input check (so a failed start leaves no stale config)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "config.json").exists():
        write_json(out / "config.json", cfg.to_dict())


class EpochLog:
    """A progress bar over epochs, and one log line per epoch, reading metrics one epoch late; `check` adds
    warning lines (each kind once per run)."""

    def __init__(self, desc: str, start: int, total: int, fmt, history=(), log=print, check=None):
        self.bar = tqdm(total=total, initial=start, desc=desc, unit="epoch", leave=False, dynamic_ncols=True,
                        disable=None)
        self.fmt = fmt
        self.write = self.bar.write if log is print else log  # print: above the progress bar
        self.pending = None
        self.last = time.perf_counter()
        self.history = list(history)  # carried over from a resumed run
        self.check = check  # check(epoch, host metrics) -> {kind: warning line} (see stackae.diagnostics)
        self.warned = set()

    def push(self, epoch: int, metrics):
        """Queue this epoch's (device) metrics and report the previous epoch's."""
        self.flush()
        self.pending = (epoch, metrics)

    def flush(self):
        if self.pending is None:
            return
        epoch, metrics = self.pending
        host = {k: np.asarray(v) for k, v in jax.device_get(metrics).items()}
        now = time.perf_counter()
        seconds, self.last = now - self.last, now
        self.history.append(dict(epoch=epoch + 1, seconds=seconds, **{k: v.tolist() for k, v in host.items()}))
        self.bar.update(1)
        self.write(self.fmt(epoch, host, seconds))
        for kind, line in (self.check(epoch, host) if self.check else {}).items():
            if kind not in self.warned:  # each kind of warning once per run
                self.warned.add(kind)
                self.write(line)
        self.pending = None

    @property
    def seconds(self) -> float:
        return float(sum(h["seconds"] for h in self.history))

    def close(self):
        self.flush()
        self.bar.close()


def report_divergence(newly_diverged, where: str, epoch: int, learning_rate, seed, log):
    """Log each newly diverged member; it stays frozen at its last good state while the others continue. `seed`
    is the first seed (members are seed, seed + 1, ...) or a list naming every member."""
    for s in np.flatnonzero(newly_diverged):
        named = isinstance(seed, (list, tuple))
        member = seed[s] if named else f"seed {seed + s} (learning_rate={learning_rate})"
        log(f"{member} diverged in {where} by {'evaluation' if named else 'epoch'} {epoch + 1}: its loss is not "
            "finite, so it is frozen at its last good state while the others continue.")


def report_early_stop(states, where: str, epoch: int, epochs: int, log):
    """Say why training ended before `epochs`, and which epoch's parameters are kept."""
    host = jax.device_get({k: states[k] for k in ("bad_epochs", "best_epoch", "epochs_run", "diverged")
                           if k in states})
    ok = ~np.asarray(host["diverged"])
    stopped = int(np.max(host["epochs_run"])) if "epochs_run" in host else epoch + 1
    why = (f"validation error had not improved for {int(np.max(host['bad_epochs']))} epochs"
           if "bad_epochs" in host else "no seed is still training")
    kept = [str(int(e) + 1) for e in np.asarray(host["best_epoch"])[ok]] if "best_epoch" in host else []
    best = ""
    if len(kept) == 1:
        best = f"; the parameters of the best epoch ({kept[0]}) are restored"
    elif kept:
        best = f"; the parameters of each seed's best epoch ({', '.join(kept)}: one per seed) are restored"
    log(f"{where} stopped early at epoch {stopped}/{epochs}: {why}{best}.")


def train_epochs(epoch_fn, states, train, held_out, keys, epoch_log, resume, *, start, epochs, every, step0,
                 position, where, learning_rate, rate_key, seed, log, unlabelled=None):
    """Run epochs start..epochs-1 of `epoch_fn`, checkpointing every `every` epochs (and at the end) when a
    `resume` checkpointer is given (None: in memory only). `unlabelled`: the pool of a semi-supervised epoch.

    A newly diverged seed is reported; when all have diverged, DivergedError (the checkpoint keeps the last
    good state); when no seed is active any more (early stopping), stop and say so. On Ctrl-C the progress bar
    and the checkpoints are closed before the interrupt goes on.
    """
    reported, stopped_at = np.zeros(np.shape(states["diverged"]), bool), None
    try:
        for epoch in range(start, epochs):
            states, metrics = (epoch_fn(states, train, held_out, keys, epoch) if unlabelled is None
                               else epoch_fn(states, train, held_out, keys, epoch, unlabelled))
            epoch_log.push(epoch, metrics)
            if (epoch + 1) % every and epoch + 1 != epochs:
                continue
            epoch_log.flush()
            if resume is not None:
                resume.save(step0 + epoch + 1, states, dict(position, epoch=epoch + 1, history=epoch_log.history))
            diverged = np.asarray(states["diverged"])
            report_divergence(diverged & ~reported, where, epoch, learning_rate, seed, log)
            reported |= diverged
            if diverged.all():
                epoch_log.close()
                if resume is not None:
                    resume.close()
                kept = " (the last good state is kept in the checkpoint)" if resume is not None else ""
                raise DivergedError(
                    f"{where} diverged by epoch {epoch + 1} with learning_rate={learning_rate}: the loss is not "
                    f"finite; lower --config.{rate_key}{kept}."
                )
            if not np.asarray(states["active"]).any():
                stopped_at = epoch
                break
    except KeyboardInterrupt:
        epoch_log.bar.close()
        if resume is not None:
            resume.close()
        raise
    epoch_log.close()
    if stopped_at is not None:
        report_early_stop(states, where, stopped_at, epochs, log)
    return states
