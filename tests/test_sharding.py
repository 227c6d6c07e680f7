"""Data parallelism: 8 simulated CPU devices give the same loss trajectory as one device."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, tiny_config


def train(workdir) -> dict:
    """Pretrain and fine-tune the tiny config on every device this process has; its losses."""
    import jax

    from stackae.workdir.finetune import finetune_run
    from stackae.workdir.pretrain import pretrain
    cfg = tiny_config()
    cfg.finetune.epochs = 5
    pretrain(cfg, workdir, log=lambda *_: None)
    r = finetune_run(cfg, workdir, log=lambda *_: None)
    layer = json.loads(pathlib.Path(workdir, "pretrain", "layer_2.json").read_text())
    return {"devices": jax.device_count(), "pretrain": [h["loss"] for h in layer["history"]],
            "finetune": [h["loss"] for h in r["history"]]}


def losses_on_8_devices(workdir):
    """`train` in a new process given 8 simulated CPU devices."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip()
    env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    program = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); from test_sharding import train; "
               "print(json.dumps(train(sys.argv[1])))")
    proc = subprocess.run([sys.executable, "-c", program, str(workdir)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_eight_devices_match_one_device(tmp_path):
    one, eight = train(tmp_path / "one"), losses_on_8_devices(tmp_path / "eight")
    assert one["devices"] == 1 and eight["devices"] == 8
    np.testing.assert_allclose(eight["pretrain"], one["pretrain"], rtol=1e-4)
    np.testing.assert_allclose(eight["finetune"], one["finetune"], rtol=1e-3)
