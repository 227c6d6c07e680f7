import os
import pathlib
import subprocess
import sys

import pytest

from stackae.configs import digits

ROOT = pathlib.Path(__file__).resolve().parents[1]


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


def run_script(name, *args, cwd=None):
    """Run scripts/<name>.py in a subprocess; returns CompletedProcess with text output."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=600)


def tree_snapshot(folder):
    """{relative path: bytes} of every file under folder (to prove nothing was overwritten)."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
