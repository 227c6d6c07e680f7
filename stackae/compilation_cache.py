"""The scripts' persistent cache of compiled XLA programs: a run compiles each program once, and later runs of
the same shapes and settings load it instead (on a GPU most of a short run's time is compilation). It lives in
$XDG_CACHE_HOME/stackae/xla (default ~/.cache/stackae/xla), in a folder per CPU model and instruction set, since
a program compiled for one CPU may not run on another. It is not pruned: delete the folder to reclaim the
space. JAX_COMPILATION_CACHE_DIR, if set, is used instead; STACKAE_COMPILATION_CACHE=off turns the cache off."""

import hashlib
import os
import pathlib

import jax


def _machine_tag() -> str:
    """A short digest of the CPU model and flags (from /proc/cpuinfo where there is one) and the jax version."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    facts = [line for line in lines if line.startswith(("model name", "flags"))][:2]
    return hashlib.sha256("\n".join([*facts, jax.__version__]).encode()).hexdigest()[:16]


def enable_compilation_cache() -> str | None:
    """Turn on the persistent compilation cache unless the environment says otherwise; the folder used, or
    None where it is off or cannot be made."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]  # jax reads it itself
    if os.environ.get("STACKAE_COMPILATION_CACHE", "").lower() in ("off", "0", "false", "no"):
        return None
    root = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    folder = root / "stackae" / "xla" / _machine_tag()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # small programs add up on a GPU
    return str(folder)
