import contextlib
import io
import os
import pathlib
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback

import pytest

# One JAX compilation cache for the whole session, set before jax is imported: the xdist workers, the scripts
# they start and the notebook kernels inherit it, so a program compiled once (a resumed run's epoch, the tiny
# config's layers) is not compiled again. The controller makes it and removes it at the end.
CACHE_PREFIX = "stackae-test-jax-cache-"


def remove_stale_caches():
    """Remove the cache folders of earlier test sessions whose process is gone (a SIGKILLed pytest cannot)."""
    for folder in pathlib.Path(tempfile.gettempdir()).glob(f"{CACHE_PREFIX}*"):
        pid = folder.name[len(CACHE_PREFIX):].split("-")[0]
        try:
            os.kill(int(pid), 0)
            continue  # its session is still running
        except (ValueError, ProcessLookupError):  # an older name without a pid, or a dead process
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # a live process of another user
            continue


# A suite started in the background by a non-interactive shell inherits SIGINT ignored, and so would the scripts
# it starts (Python keeps an inherited SIG_IGN): the Ctrl-C tests would see their interrupts ignored. A handler
# here becomes the default disposition in every child process, where Python then raises KeyboardInterrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)

# The suite's programs are tiny: compiling them costs more than running them. XLA's backend optimisation level 0
# compiles about a third faster on the CPU (tests compare runs made under the same flags, the scripts and notebook
# kernels inherit them); STACKAE_TEST_XLA_OPTIMISED=1 keeps XLA's default.
if os.environ.get("STACKAE_TEST_XLA_OPTIMISED") != "1" and "xla_backend_optimization_level" not in os.environ.get(
        "XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    remove_stale_caches()
    os.environ["JAX_COMPILATION_CACHE_DIR"] = OWN_CACHE = tempfile.mkdtemp(prefix=f"{CACHE_PREFIX}{os.getpid()}-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
else:
    OWN_CACHE = None

from stackae.configs import digits  # noqa: E402
from stackae.workdir.locks import forget_run_dirs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """Files holding a test marked slow run first (with -n each file goes to one worker, pyproject.toml): the long
    ones start at once instead of leaving one worker busy at the end."""
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)  # stable: the order within is kept


def pytest_unconfigure(config):
    if OWN_CACHE is not None:
        shutil.rmtree(OWN_CACHE, ignore_errors=True)


def tiny_config(**pretrain):
    """The digits config shrunk for tests: two small layers, a few epochs."""
    cfg = digits.get_config()
    cfg.name = "tiny"
    cfg.seeds = 1
    cfg.layers = (32, 16)
    cfg.pretrain.epochs = 3
    cfg.finetune.epochs = 25
    cfg.finetune.patience = 25
    cfg.diagnostics = False  # tests of the diagnostics switch them on; off, every tiny program compiles faster
    for k, v in pretrain.items():
        cfg.pretrain[k] = v
    return cfg


@pytest.fixture
def tiny_cfg():
    return tiny_config()


def script_env(changes=None) -> dict:
    """This environment with the repository on PYTHONPATH and `changes` applied (a None value removes a
    variable)."""
    return {k: v for k, v in {**os.environ, "PYTHONPATH": str(ROOT), **(changes or {})}.items() if v is not None}


def run_script(name, *args, cwd=None, env=None):
    """Run scripts/<name>.py in a subprocess; returns CompletedProcess with text output. `env` changes the
    environment, as in `script_env`."""
    env = script_env(env)
    return subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=600)


def run_script_here(name, *args):
    """Run scripts/<name>.py in this process, as `run_script` does in a new one, without an interpreter's start-up
    and imports (the compiled programs land in the shared cache for the processes started after it). An uncaught
    exception's traceback lands in stderr, and the run's locks are released, as they would be by a process."""
    argv, out, err, code = sys.argv, io.StringIO(), io.StringIO(), 0
    sys.argv = [str(ROOT / "scripts" / f"{name}.py"), *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    except Exception:  # noqa: BLE001 - reported the way an interpreter reports it
        err.write(traceback.format_exc())
        code = 1
    finally:
        sys.argv = argv
        forget_run_dirs()  # as the script's process end would
    return subprocess.CompletedProcess([name, *args], code, out.getvalue(), err.getvalue())


def tree_snapshot(folder):
    """{relative path: bytes} of every file under folder (to prove nothing was overwritten)."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
