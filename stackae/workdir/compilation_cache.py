"""The scripts' persistent cache of compiled XLA programs: a run compiles each program once, and later runs of
the same shapes and settings load it instead (on a GPU most of a short run's time is compilation). It lives in
$XDG_CACHE_HOME/stackae/xla (default ~/.cache/stackae/xla), in a folder per CPU model and instruction set, since
a program compiled for one CPU may not run on another. Each folder is capped at STACKAE_COMPILATION_CACHE_GB
gigabytes (default 2; JAX evicts the least recently used programs); `--clear-cache` on any script empties the
cache first. JAX_COMPILATION_CACHE_DIR, if set, is used instead (uncapped, never cleared);
STACKAE_COMPILATION_CACHE=off turns the cache off."""

import hashlib
import os
import pathlib
import shutil

import jax

from stackae.errors import StackaeError


def _machine_tag() -> str:
    """A short digest of the CPU model and flags (from /proc/cpuinfo where there is one) and the jax version."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    facts = [line for line in lines if line.startswith(("model name", "flags"))][:2]
    return hashlib.sha256("\n".join([*facts, jax.__version__]).encode()).hexdigest()[:16]


DEFAULT_CAP_GB = 2.0


def cache_root() -> pathlib.Path:
    """The folder holding every machine's cache."""
    return pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "stackae" / "xla"


def cap_bytes() -> int:
    """The size cap of one machine's cache folder, from STACKAE_COMPILATION_CACHE_GB."""
    text = os.environ.get("STACKAE_COMPILATION_CACHE_GB", "")
    try:
        gigabytes = float(text) if text else DEFAULT_CAP_GB
    except ValueError:
        gigabytes = -1.0
    if not gigabytes > 0:
        raise StackaeError(f"STACKAE_COMPILATION_CACHE_GB={text!r} is not a positive number of gigabytes; set it "
                           "to e.g. 2, or STACKAE_COMPILATION_CACHE=off to turn the cache off.")
    return int(gigabytes * 2**30)


def clear_compilation_cache() -> tuple[pathlib.Path, int]:
    """Delete the stackae cache of every machine; (its folder, the bytes freed)."""
    root = cache_root()
    freed = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.exists() else 0
    shutil.rmtree(root, ignore_errors=True)
    return root, freed


def enable_compilation_cache() -> str | None:
    """Turn on the persistent compilation cache unless the environment says otherwise; the folder used, or
    None where it is off or cannot be made."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]  # jax reads it itself
    if os.environ.get("STACKAE_COMPILATION_CACHE", "").lower() in ("off", "0", "false", "no"):
        return None
    cap = cap_bytes()
    folder = cache_root() / _machine_tag()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # small programs add up on a GPU
    jax.config.update("jax_compilation_cache_max_size", cap)  # least recently used programs go first
    return str(folder)
