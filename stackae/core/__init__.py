"""Building blocks and the engine: activations, inits, noise, losses, models, optimisers, the compiled epoch
(jit, scan, vmap over seeds, sharding) and the epoch loop. Arrays in, arrays out; nothing here reads or writes
files."""
