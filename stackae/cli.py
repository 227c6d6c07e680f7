"""Command-line plumbing shared by the scripts: --config=PATH, --config.<key>=<value> (every key listed by
--help), --workdir, the persistent compilation cache, one-sentence errors with a non-zero exit, and a quiet
exit on Ctrl-C."""

import argparse
import inspect
import logging
import os
import re
import signal
import sys

from stackae.config import _flat_keys, base_config, load_config
from stackae.errors import StackaeError
from stackae.workdir.compilation_cache import clear_compilation_cache, enable_compilation_cache
from stackae.workdir.locks import remove_unused_run_dirs


def config_help() -> str:
    """One line per config key: its default and, where base_config() has a trailing comment, its meaning."""
    source = inspect.getsource(base_config)
    sections = dict(re.findall(r"^\s*(\w+) = c\.(\w+) = ", source, re.M))  # {"p": "pretrain", ...}
    meanings = {}  # in the order of the source
    for statement in re.split(r"\n(?=\s*\w+(?:\.\w+)? = )", source):  # a statement may span lines
        if m := re.match(r"\s*(\w+)\.(\w+) = ", statement):
            var, key = m.groups()
            comment = re.search(r"#\s*(.*)", statement)
            meanings[f"{sections[var]}.{key}" if var in sections else key] = comment[1].strip() if comment else ""
    defaults = _flat_keys(base_config())
    lines = []
    for key in [*meanings, *(k for k in defaults if k not in meanings)]:
        shown = repr(defaults[key]) if defaults[key] == "" else str(defaults[key])
        lines.append(f"  {key:<26} {shown:<11} {meanings.get(key, '')}".rstrip())
    return "\n".join(lines)


def parse(argv, description: str, extra=None, config_from_run: str | None = None, workdir_prefix: str = ""):
    """Parse script flags; returns (cfg, args). `extra(parser)` adds script-specific flags; without --config,
    `config_from_run` (a path inside --workdir, e.g. pretrain/config.json) is the default config if present."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Override any config key with --config.<key>=<value>, e.g. --config.pretrain.epochs=5, or\n"
        "--config.pretrain.learning_rate='(0.01,0.003)' and --config.pretrain.activation='(relu,tanh)' for\n"
        "per-layer values. Config keys and their defaults (a config file may change the defaults):\n"
        + config_help(),
    )
    parser.add_argument("--config", default=None, help="Python file with get_config() (default: digits)")
    parser.add_argument("--workdir", default=None, help="output folder (default: runs/<config name>)")
    parser.add_argument("--overwrite", action="store_true", help="discard a finished or unfinished run in workdir")
    parser.add_argument("--clear-cache", action="store_true",
                        help="empty the cache of compiled programs (~/.cache/stackae/xla) before the run")
    parser.add_argument("--coordinator", default=None, help="multi-host: address:port of process 0")
    parser.add_argument("--num_processes", type=int, default=None, help="multi-host: number of processes")
    parser.add_argument("--process_id", type=int, default=None, help="multi-host: this process's index")
    parser.add_argument("--distributed", action="store_true",
                        help="multi-host: let jax.distributed.initialize detect the cluster (SLURM, TPU pods)")
    if extra:
        extra(parser)
    args, rest = parser.parse_known_args(argv)
    overrides = {}
    for item in rest:
        if not item.startswith("--config.") or "=" not in item:
            raise StackaeError(f"unrecognised argument '{item}'; use --config.<key>=<value> for config overrides.")
        key, value = item[len("--config."):].split("=", 1)
        overrides[key] = value
    saved = os.path.join(args.workdir, config_from_run) if args.workdir and config_from_run else None
    if args.config is None and saved and os.path.isfile(saved):
        args.config = saved
        print(f"using the config saved by pretraining: {saved}")
    cfg = load_config(args.config, overrides)
    if args.clear_cache:
        folder, freed = clear_compilation_cache()
        print(f"cleared the compilation cache in {folder} ({freed / 2**20:.1f} MB)")
    enable_compilation_cache()
    if args.distributed or args.coordinator is not None:
        from stackae.core.distributed import initialize

        initialize(args.coordinator, args.num_processes, args.process_id)
    if args.workdir is None:
        args.workdir = os.path.join("runs", workdir_prefix + cfg.name)
    return cfg, args


def listed(text: str, kind=str) -> tuple:
    """A comma-separated flag value as a tuple ("2,4,6" -> (2, 4, 6) with kind=int)."""
    try:
        return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise StackaeError(f"'{text}' is not a comma-separated list of {kind.__name__}s; write e.g. 2,4,6,8.") from None


_interrupted = []  # set by Ctrl-C: JAX may turn the KeyboardInterrupt into an error that no longer links to it


def _on_interrupt(signum, frame):
    _interrupted.append(True)
    raise KeyboardInterrupt


def _caused_by_interrupt(error: BaseException) -> bool:
    """Whether `error` was raised while handling a Ctrl-C (JAX may wrap a KeyboardInterrupt in another error, or
    report one raised inside its cache lookup as a ValueError)."""
    if _interrupted:
        return True
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def run_main(main):
    """Run `main()`; report user errors in one sentence on stderr and exit 2; on Ctrl-C say how to resume and
    exit 130, with no traceback (checkpoint saves hold the interrupt back until they are complete)."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # not where the shell made us ignore it
        signal.signal(signal.SIGINT, _on_interrupt)
    try:
        main()
    except StackaeError as e:
        remove_unused_run_dirs()
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:
        if not _caused_by_interrupt(e):
            raise
        _quiet_interrupt_exit()
    except KeyboardInterrupt:
        _quiet_interrupt_exit()
    finally:
        if signal.getsignal(signal.SIGINT) is _on_interrupt:  # run in-process (tests): leave it as it was
            signal.signal(signal.SIGINT, previous)


def _quiet_interrupt_exit():
    """Exit 130 with one sentence on how to resume."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not interrupt the exit
    logging.getLogger("absl").disabled = True  # orbax's helper threads complain while the interpreter exits
    print("interrupted; re-run the same command to resume from the last checkpoint.", file=sys.stderr)
    sys.exit(130)
