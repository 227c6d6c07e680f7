"""Workdir bookkeeping shared by pretraining and fine-tuning: finished-run guard, saved config, epoch logging."""

import pathlib
import shutil
import time

import jax
import numpy as np
from tqdm.auto import tqdm

from stackae.checkpoints import read_json, write_json
from stackae.config import canonical_json, config_from_json
from stackae.errors import ConfigError, DivergedError


def prepare_run_dir(out: pathlib.Path, cfg, finished_file: str, overwrite: bool, log) -> dict | None:
    """Return the finished result if `out` holds one for this config (unless overwrite); refuse a run of
    `out` made with a different config, finished or not."""
    if overwrite and out.exists():
        shutil.rmtree(out)
    saved = out / "config.json"
    if saved.exists() and canonical_json(config_from_json(saved.read_text())) != canonical_json(cfg):
        state = "finished" if (out / finished_file).exists() else "unfinished"
        raise ConfigError(
            f"{out} holds a {state} run with a different config (see {saved}); pass --config={saved} to "
            f"{'reuse' if state == 'finished' else 'resume'} it, --overwrite to discard it, or another --workdir."
        )
    if (out / finished_file).exists():
        log(f"{out} already holds this finished run; pass --overwrite to redo it.")
        return read_json(out / finished_file)
    return None


def record_config(out: pathlib.Path, cfg):
    """Save the config of a run that passed every input check (so a failed start leaves no stale config)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "config.json").exists():
        write_json(out / "config.json", cfg.to_dict())


class EpochLog:
    """A progress bar over epochs, and one log line per epoch, reading metrics one epoch late."""

    def __init__(self, desc: str, start: int, total: int, fmt, history=()):
        self.bar = tqdm(total=total, initial=start, desc=desc, unit="epoch", leave=False, dynamic_ncols=True,
                        disable=None)
        self.fmt = fmt
        self.pending = None
        self.last = time.perf_counter()
        self.history = list(history)  # carried over from a resumed run

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
        self.bar.write(self.fmt(epoch, host, seconds))
        self.pending = None

    @property
    def seconds(self) -> float:
        return float(sum(h["seconds"] for h in self.history))

    def close(self):
        self.flush()
        self.bar.close()


def report_divergence(newly_diverged, where: str, epoch: int, learning_rate: float, seed: int, log):
    """Log each newly diverged seed; it stays frozen at its last good state while the others continue."""
    for s in np.flatnonzero(newly_diverged):
        log(f"seed {seed + s} diverged in {where} by epoch {epoch + 1} (learning_rate={learning_rate}): its loss is "
            "not finite, so it is frozen at its last good state while the other seeds continue.")


def train_epochs(epoch_fn, states, train, held_out, keys, epoch_log, resume, *, start, epochs, every, step0,
                 position, where, learning_rate, rate_key, seed, log):
    """Run epochs start..epochs-1 of `epoch_fn`, checkpointing every `every` epochs (and at the end).

    A newly diverged seed is reported; when all have diverged, DivergedError (the checkpoint keeps the last
    good state); when no seed is active any more (early stopping), stop.
    """
    reported = np.zeros(np.shape(states["diverged"]), bool)
    for epoch in range(start, epochs):
        states, metrics = epoch_fn(states, train, held_out, keys, epoch)
        epoch_log.push(epoch, metrics)
        if (epoch + 1) % every and epoch + 1 != epochs:
            continue
        epoch_log.flush()
        resume.save(step0 + epoch + 1, states, dict(position, epoch=epoch + 1, history=epoch_log.history))
        diverged = np.asarray(states["diverged"])
        report_divergence(diverged & ~reported, where, epoch, learning_rate, seed, log)
        reported |= diverged
        if diverged.all():
            epoch_log.close()
            resume.close()
            raise DivergedError(
                f"{where} diverged by epoch {epoch + 1} with learning_rate={learning_rate}: the loss is not finite; "
                f"lower --config.{rate_key} (the last good state is kept in the checkpoint)."
            )
        if not np.asarray(states["active"]).any():
            break
    epoch_log.close()
    return states
