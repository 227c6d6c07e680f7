"""Data parallelism: 8 simulated CPU devices give the same loss trajectory as one device."""

import json
import os
import subprocess
import sys

import numpy as np

from conftest import ROOT

PROGRAM = """
import json, sys, jax
sys.path.insert(0, {tests!r})
from conftest import tiny_config
from stackae.workdir.finetune import finetune_run
from stackae.workdir.pretrain import pretrain
cfg = tiny_config()
cfg.finetune.epochs = 5
pretrain(cfg, sys.argv[1], log=lambda *_: None)
r = finetune_run(cfg, sys.argv[1], log=lambda *_: None)
layer = json.load(open(sys.argv[1] + "/pretrain/layer_2.json"))
print(json.dumps({{"devices": jax.device_count(), "pretrain": [h["loss"] for h in layer["history"]],
                  "finetune": [h["loss"] for h in r["history"]]}}))
"""


def losses(workdir, devices):
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS=flags,
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", PROGRAM.format(tests=str(ROOT / "tests")), str(workdir)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_eight_devices_match_one_device(tmp_path):
    one, eight = losses(tmp_path / "one", 1), losses(tmp_path / "eight", 8)
    assert one["devices"] == 1 and eight["devices"] == 8
    np.testing.assert_allclose(eight["pretrain"], one["pretrain"], rtol=1e-4)
    np.testing.assert_allclose(eight["finetune"], one["finetune"], rtol=1e-3)
