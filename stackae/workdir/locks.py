"""One run per run folder: an exclusive `flock` on `<run folder>/.lock`, held for the life of the process.

The operating system drops the lock when the process ends, however it ends, so a killed run never leaves a
stuck lock behind: its `.lock` file stays, but the next run takes the lock and resumes.
"""

import os
import pathlib

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None

from stackae.errors import StackaeError


class RunInUseError(StackaeError):
    """Another process is running in the same run folder."""


_held = {}  # real path of a run folder -> the open .lock file whose lock this process holds
_created = []  # folders this process's locking created, parents first
_created_locks = []  # .lock files this process's locking created


def lock_run_dir(folder) -> None:
    """Take the lock of `folder` (created if needed) for this process, or raise RunInUseError."""
    if fcntl is None:
        return
    folder = pathlib.Path(folder)
    key = os.path.realpath(folder)
    held = _held.get(key)
    if held is not None and (folder / ".lock").exists():
        return  # this process holds it already
    _created.extend(p for p in reversed([folder, *folder.parents]) if not p.exists())
    folder.mkdir(parents=True, exist_ok=True)
    new_lock = not (folder / ".lock").exists()
    f = open(folder / ".lock", "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise RunInUseError(f"another run is using {folder} (it holds the lock {folder / '.lock'}); wait for it to "
                            "finish, stop it, or pass another --workdir.") from None
    if held is not None:
        held.close()  # the lock file it locked was deleted
    _held[key] = f
    if new_lock:
        _created_locks.append(folder / ".lock")


def _release_locks() -> None:
    """Release every lock this process holds, as the end of the process does (the `.lock` files stay)."""
    for f in _held.values():
        f.close()
    _held.clear()


def forget_run_dirs() -> None:
    """Release the locks and forget the folders and `.lock` files this process's locking created, leaving them
    on disk: what the end of a script's process does, for scripts run one after another in one process."""
    _release_locks()
    _created.clear()
    _created_locks.clear()


def remove_unused_run_dirs() -> None:
    """Release this process's locks, remove the `.lock` files it created and the folders its locking created
    that hold nothing else (a run stopped by bad input leaves no lock file and no empty folder behind)."""
    _release_locks()
    for lock in _created_locks:
        lock.unlink(missing_ok=True)
    _created_locks.clear()
    for folder in reversed(_created):  # children first
        try:
            if folder.is_dir() and {p.name for p in folder.iterdir()} <= {".lock"}:
                (folder / ".lock").unlink(missing_ok=True)
                folder.rmdir()
        except OSError:  # something appeared in it meanwhile, or it cannot be removed: leave it
            pass
    _created.clear()
