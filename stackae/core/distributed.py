"""Multi-host set-up: join the processes of one run through `jax.distributed.initialize`.

After it, `jax.devices()` lists the devices of every process, so the data-parallel mesh of
`stackae.core.engine.device_mesh` spans all hosts; every process runs the same command on the same data.
"""

import jax

from stackae.errors import ConfigError


def initialize(coordinator: str | None, num_processes: int | None, process_id: int | None):
    """Join a multi-process run; with no coordinator, let JAX detect a cluster (SLURM, TPU pods, ...)."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ConfigError("multi-host runs need --coordinator, --num_processes and --process_id together.")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives across processes
    if all(given):
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id)
    else:
        jax.distributed.initialize()
