"""Checkpoints with orbax: finished layers and best parameters as pytrees, resumable train states through a
CheckpointManager (atomic, bounded number kept), JSON files written atomically. Failures become
CheckpointError naming the path. A Ctrl-C during a save is held back until the save is complete."""

import contextlib
import json
import os
import pathlib
import shutil
import signal
import tempfile
import threading

import jax
import orbax.checkpoint as ocp

from stackae.errors import CheckpointError


def write_json(path, obj):
    """Write `obj` as JSON atomically (temp file + rename): a reader never sees half a file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, default=float)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    path = pathlib.Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is unreadable or corrupt ({e}); delete it or use a fresh --workdir.") from e


TMP_MARK = ".orbax-checkpoint-tmp"  # in the name of a folder orbax is still writing


@contextlib.contextmanager
def interrupt_deferred():
    """Hold back Ctrl-C (SIGINT) until the block ends, then raise KeyboardInterrupt: no half-written files."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def remove_unfinished(folder, prefix: str = ""):
    """Remove orbax's temporary folders `<prefix>*.orbax-checkpoint-tmp*` in `folder`, left by a killed save."""
    for tmp in pathlib.Path(folder).glob(f"{prefix}*{TMP_MARK}*"):
        shutil.rmtree(tmp, ignore_errors=True)


def save_tree(path, tree):
    """Save a pytree of arrays to `path` (orbax writes to a temporary folder and renames on success)."""
    path = pathlib.Path(path).absolute()
    remove_unfinished(path.parent, path.name)
    tree = jax.device_get(tree)
    with interrupt_deferred():
        checkpointer = ocp.StandardCheckpointer()
        checkpointer.save(path, tree)
        checkpointer.wait_until_finished()


def restore_tree(path, target=None):
    """Restore the pytree saved at `path`, shaped like `target` if given."""
    path = pathlib.Path(path).absolute()
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; run the step that writes it first.")
    abstract = None if target is None else jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
        return ocp.StandardCheckpointer().restore(path, abstract)
    except Exception as e:  # orbax raises many types for corrupt or mismatched files
        raise CheckpointError(
            f"checkpoint {path} is corrupt or does not match this config ({type(e).__name__}); "
            "delete it or use a fresh --workdir."
        ) from e


class ResumeCheckpoints:
    """Periodic train-state checkpoints with a JSON position (layer, epoch, ...) for resuming a killed run."""

    def __init__(self, directory, max_to_keep: int = 2):
        self.directory = pathlib.Path(directory).absolute()
        remove_unfinished(self.directory)  # the run folder is locked: these are ours, from a killed run
        # synchronous saves: a Ctrl-C never interrupts a background writer thread
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                               enable_async_checkpointing=False)
        try:
            self.manager = ocp.CheckpointManager(self.directory, options=options)
        except Exception as e:
            raise CheckpointError(f"resume checkpoints in {self.directory} are unreadable ({e}); delete the folder.") from e

    def save(self, step: int, state, position: dict):
        state = jax.device_get(state)
        with interrupt_deferred():
            self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                            position=ocp.args.JsonSave(position)))
            self.manager.wait_until_finished()

    def latest_position(self) -> dict | None:
        step = self.manager.latest_step()
        if step is None:
            return None
        try:
            return dict(self.manager.restore(step, args=ocp.args.Composite(position=ocp.args.JsonRestore())).position,
                        step=step)
        except Exception as e:
            raise CheckpointError(
                f"resume checkpoint {self.directory / str(step)} is corrupt ({type(e).__name__}); delete that folder "
                "to resume from the one before, or use --overwrite."
            ) from e

    def restore_state(self, step: int, target):
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            return self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))).state
        except Exception as e:
            raise CheckpointError(
                f"resume checkpoint {self.directory / str(step)} is corrupt or does not match this config "
                f"({type(e).__name__}); delete that folder, or use --overwrite."
            ) from e

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()
