"""Methods of a comparison, by name: how the hidden layers are initialised, plus remedies switched on with "+".

"he", "lsuv", "dae+batch_norm", "he+dropout+clip": every method fine-tunes the same network (the config's
`layers`) under the same head, optimiser and stopping rule; only what the name says differs.
"""

import dataclasses

import jax.numpy as jnp

from stackae.errors import ConfigError
from stackae.inits import data_dependent, lsuv

RANDOM_INITS = ("glorot", "he", "orthogonal", "lecun", "small_gaussian")
INIT_METHODS = (*RANDOM_INITS, "lsuv", "data_dependent", "dae", "dae_linear_probe")
REMEDIES = ("batch_norm", "dropout", "clip", "residual")


@dataclasses.dataclass(frozen=True)
class Method:
    """A parsed method name."""

    name: str
    init: str
    batch_norm: bool = False
    dropout: bool = False
    clip: bool = False
    residual: bool = False

    @property
    def pretrained(self) -> bool:
        return self.init in ("dae", "dae_linear_probe")

    @property
    def frozen_encoders(self) -> bool:
        """The linear probe trains the head only, on the frozen pretrained features."""
        return self.init == "dae_linear_probe"


def parse_method(name: str) -> Method:
    """Method "init[+remedy...]"; an unknown part is one ConfigError sentence listing the valid ones."""
    init, *remedies = str(name).strip().split("+")
    if init not in INIT_METHODS:
        raise ConfigError(f"unknown method '{name}': '{init}' is not an init; choose one of "
                          f"{', '.join(INIT_METHODS)}, optionally followed by +{' +'.join(REMEDIES)} "
                          "(scripts/finetune.py also takes pretrained and random).")
    for r in remedies:
        if r not in REMEDIES:
            raise ConfigError(f"unknown method '{name}': '{r}' is not a remedy; choose from {', '.join(REMEDIES)}.")
    return Method(name, init, **{r: True for r in remedies})


def initialise_hidden(method: Method, model, x_bd, key, stack=None, stack_index=None):
    """Set the hidden layers of `model` (built with the method's random kernels) as `method` says: LSUV or
    data-dependent calibration on the unlabelled batch `x_bd`, or the encoders of seed `stack_index` of a
    pretrained `stack`; random schemes keep their draw."""
    if method.init == "lsuv":
        lsuv(model, x_bd, key)
    elif method.init == "data_dependent":
        data_dependent(model, x_bd, key)
    elif method.pretrained:
        for k, (encoder, (w, b), slope) in enumerate(zip(model.encoders, stack.encoders(), stack.slopes())):
            encoder.kernel[...] = jnp.asarray(w[stack_index])
            encoder.bias[...] = jnp.asarray(b[stack_index])
            if slope is not None:  # a prelu layer's learned slope
                model.slopes[k][...] = jnp.asarray(slope[stack_index])
