"""The suite's own JAX cache folders: a killed session's is removed by the next session, a live one's kept."""

import os
import pathlib
import subprocess
import sys
import tempfile

from conftest import CACHE_PREFIX, remove_stale_caches


def test_stale_cache_folders_of_dead_sessions_are_removed_and_live_ones_kept():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp = pathlib.Path(tempfile.gettempdir())
    stale, live = tmp / f"{CACHE_PREFIX}{dead.pid}-x", tmp / f"{CACHE_PREFIX}{os.getpid()}-y"
    for folder in (stale, live):
        (folder / "entry").mkdir(parents=True, exist_ok=True)
    try:
        remove_stale_caches()
        assert not stale.exists() and live.exists()
    finally:
        for folder in (stale, live):
            subprocess.run(["rm", "-rf", str(folder)], check=False)
