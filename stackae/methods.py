"""Methods of a comparison, by name: how the hidden layers are initialised, plus remedies switched on with "+".

"he", "lsuv", "dae+batch_norm", "he+dropout+clip": every method fine-tunes the same network (the config's
`layers`) under the same head, optimiser and stopping rule; only what the name says differs. The
semi-supervised remedies (+pseudo_label, +mean_teacher, +reconstruction) also train on unlabelled minibatches.
"""

import dataclasses

import jax.numpy as jnp

from stackae.errors import ConfigError
from stackae.inits import data_dependent, lsuv

RANDOM_INITS = ("glorot", "he", "orthogonal", "lecun", "small_gaussian")
INIT_METHODS = (*RANDOM_INITS, "lsuv", "data_dependent", "dae", "dae_linear_probe")
SEMI_SUPERVISED = ("pseudo_label", "mean_teacher", "reconstruction")
REMEDIES = ("batch_norm", "dropout", "clip", "residual", *SEMI_SUPERVISED)


@dataclasses.dataclass(frozen=True)
class Method:
    """A parsed method name."""

    name: str
    init: str
    batch_norm: bool = False
    dropout: bool = False
    clip: bool = False
    residual: bool = False
    pseudo_label: bool = False
    mean_teacher: bool = False
    reconstruction: bool = False

    @property
    def semi_supervised(self) -> bool:
        """Trains on unlabelled minibatches beside the labelled ones."""
        return self.pseudo_label or self.mean_teacher or self.reconstruction

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
    if "reconstruction" in remedies and init == "dae_linear_probe":
        raise ConfigError(f"method '{name}' cannot train: +reconstruction trains the encoders jointly with their "
                          "decoders, which the frozen linear probe keeps fixed; use dae+reconstruction.")
    if "reconstruction" in remedies and "batch_norm" in remedies:
        raise ConfigError(f"method '{name}' combines +reconstruction, which reconstructs each layer through its DAE "
                          "encoder, with +batch_norm, which that encoder does not have; drop one of the two.")
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
        if model.decoder_biases is not None:  # +reconstruction keeps the pretrained decoders
            for k, (bias, kernel) in enumerate(stack.decoders()):
                model.decoder_biases[k][...] = jnp.asarray(bias[stack_index])
                if kernel is not None:
                    model.decoder_kernels[k][...] = jnp.asarray(kernel[stack_index])
