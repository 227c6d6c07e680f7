"""The epoch loop every procedure shares: one compiled epoch after another, metrics read one epoch late, a
progress bar, divergence and early-stop reports, checkpoints through a `resume` object the caller may pass."""

import time

import jax
import numpy as np
from tqdm import tqdm

from stackae.errors import DivergedError


def resume_states(resume, states, log, what: str):
    """(states, first epoch, history) to continue from: the latest checkpoint of `resume` if it holds one (said
    in the log as "resuming <what> <epoch>"), else the given states from the start."""
    position = resume.latest_position() if resume is not None else None
    if not position:
        return states, 0, []
    log(f"resuming {what} {position['epoch'] + 1}")
    return resume.restore_state(position["step"], states), position["epoch"], position["history"]


PROGRESS_PERCENT = 10  # off a terminal, a progress line each time this share of a long run's epochs is done
PROGRESS_MIN_EPOCHS = 20  # shorter runs get their epoch lines only


class EpochLog:
    """A progress bar over epochs, and one log line per epoch, reading metrics one epoch late; `check` adds
    warning lines (each kind once per run). Off a terminal (a log file) the bar is replaced by a line each
    `PROGRESS_PERCENT` of a long run, with the time so far and the time left."""

    def __init__(self, desc: str, start: int, total: int, fmt, history=(), log=print, check=None):
        self.bar = tqdm(total=total, initial=start, desc=desc, unit="epoch", leave=False, dynamic_ncols=True,
                        disable=None)
        self.desc, self.start, self.total = desc, start, total
        self.progress_lines = self.bar.disable and total >= PROGRESS_MIN_EPOCHS
        self.began = time.perf_counter()
        self.fmt = fmt
        self.write = self.bar.write if log is print else log  # print: above the progress bar
        self.pending = None
        self.last = time.perf_counter()
        self.history = list(history)  # carried over from a resumed run
        self.check = check  # check(epoch, host metrics) -> {kind: warning line} (see stackae.core.diagnostics)
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
        if self.progress_lines:
            self.write_progress(epoch + 1, now)
        for kind, line in (self.check(epoch, host) if self.check else {}).items():
            if kind not in self.warned:  # each kind of warning once per run
                self.warned.add(kind)
                self.write(line)
        self.pending = None

    def write_progress(self, done: int, now: float):
        percent, before = 100 * done // self.total, 100 * (done - 1) // self.total
        if percent // PROGRESS_PERCENT == before // PROGRESS_PERCENT:
            return
        spent = now - self.began
        left = spent / (done - self.start) * (self.total - done)
        self.write(f"{self.desc}: {percent}% of {self.total} epochs done, {spent:.0f} s so far, about {left:.0f} s "
                   "left")

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
