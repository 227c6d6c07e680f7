"""Multi-host: two processes on localhost joined by jax.distributed.initialize train like one process."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_script_here

pytestmark = pytest.mark.slow

ARGS = ["--config.layers=(32,16)", "--config.pretrain.epochs=3"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def layer_losses(workdir):
    return [[h["loss"] for h in json.loads((workdir / "pretrain" / f"layer_{k}.json").read_text())["history"]]
            for k in (1, 2)]


def test_two_processes_on_localhost_match_one_process(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    script = str(ROOT / "scripts" / "pretrain.py")
    single = run_script_here("pretrain", "--workdir", str(tmp_path / "one"), *ARGS)
    assert single.returncode == 0, single.stderr[-3000:]
    address = f"127.0.0.1:{free_port()}"
    procs = [subprocess.Popen([sys.executable, script, "--workdir", str(tmp_path / "two"), *ARGS,
                               "--coordinator", address, "--num_processes", "2", "--process_id", str(i)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    assert "2 device(s)" in outputs[0][0]
    for one, two in zip(layer_losses(tmp_path / "one"), layer_losses(tmp_path / "two")):
        np.testing.assert_allclose(two, one, rtol=1e-4)
