"""Methods of a comparison, by name: how the hidden layers are initialised, plus remedies switched on with "+".

"he", "lsuv", "dae+batch_norm", "he+dropout+clip": every method fine-tunes the same network (the config's
`layers`) under the same head, optimiser and stopping rule; only what the name says differs. The
semi-supervised remedies (+pseudo_label, +mean_teacher, +reconstruction) also train on unlabelled minibatches.
The ladder network (Rasmus et al. 2015) and its top-layer-only Gamma model replace the classifier by a model of
their own: `ladder` and `gamma` (LeCun-normal kernels, as the paper's code), `dae+ladder` from the DAE stack.
`cae` and `rbm` (and `cae+...`, `rbm+...`) start from a stack pretrained with that greedy layer instead.
"""

import dataclasses

import jax.numpy as jnp

from stackae.core.inits import data_dependent, lsuv
from stackae.errors import ConfigError

RANDOM_INITS = ("glorot", "he", "orthogonal", "lecun", "small_gaussian")
PRETRAINED_INITS = ("dae", "dae_linear_probe", "cae", "rbm")  # from a stack pretrained with that greedy layer
INIT_METHODS = (*RANDOM_INITS, "lsuv", "data_dependent", *PRETRAINED_INITS)
SEMI_SUPERVISED = ("pseudo_label", "mean_teacher", "reconstruction")
LADDERS = ("ladder", "gamma")
REMEDIES = ("batch_norm", "dropout", "clip", "residual", *SEMI_SUPERVISED, *LADDERS)
LADDER_INIT = "lecun"  # the init of a bare `ladder` or `gamma`: the paper's randn / sqrt(fan_in)


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
    ladder: bool = False
    gamma: bool = False

    @property
    def semi_supervised(self) -> bool:
        """Has a semi-supervised remedy (pseudo-labels, mean teacher, joint reconstruction)."""
        return self.pseudo_label or self.mean_teacher or self.reconstruction

    @property
    def ladder_network(self) -> bool:
        """Trains a ladder network (full, or the Gamma model) instead of the stacked classifier."""
        return self.ladder or self.gamma

    @property
    def unlabelled(self) -> bool:
        """Trains on unlabelled minibatches beside the labelled ones."""
        return self.semi_supervised or self.ladder_network

    @property
    def stateful(self) -> bool:
        """Carries batch-normalisation statistics (running averages used at evaluation)."""
        return self.batch_norm or self.ladder_network

    @property
    def remedies(self) -> str:
        """Every remedy switched on, "+"-joined in a fixed order ("" for a bare init): the part two methods
        share when they differ by their init only."""
        return "+".join(r for r in REMEDIES if getattr(self, r))

    @property
    def pretrained(self) -> bool:
        return self.init in PRETRAINED_INITS

    @property
    def stack_kind(self) -> str | None:
        """The greedy layer (pretrain.layer) of the stack a pretrained method starts from; None for the others."""
        return ("dae" if self.init == "dae_linear_probe" else self.init) if self.pretrained else None

    @property
    def frozen_encoders(self) -> bool:
        """The linear probe trains the head only, on the frozen pretrained features."""
        return self.init == "dae_linear_probe"


def parse_method(name: str) -> Method:
    """Method "init[+remedy...]"; an unknown part is one ConfigError sentence listing the valid ones."""
    init, *remedies = str(name).strip().split("+")
    if init in LADDERS:  # `ladder` is lecun+ladder
        init, remedies = LADDER_INIT, [init, *remedies]
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
    ladders = [r for r in remedies if r in LADDERS]
    others = [r for r in remedies if r not in LADDERS and r != "clip"]
    if ladders and (len(ladders) > 1 or others):
        raise ConfigError(f"method '{name}' combines {'+'.join(ladders)} with "
                          f"{'+'.join(ladders[1:] + others)}; a ladder network brings its own batch normalisation "
                          "and unlabelled cost and takes +clip only, e.g. ladder, gamma, dae+ladder.")
    if ladders and init not in (*RANDOM_INITS, "dae"):
        raise ConfigError(f"method '{name}' starts a ladder network from {init}; use a random init "
                          f"({', '.join(RANDOM_INITS)}) or dae.")
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
            if encoder.bias is not None:  # a ladder's encoders have none (batch normalisation follows)
                encoder.bias[...] = jnp.asarray(b[stack_index])
            if slope is not None:  # a prelu layer's learned slope
                model.slopes[k][...] = jnp.asarray(slope[stack_index])
        if getattr(model, "decoder_biases", None) is not None:  # +reconstruction keeps the pretrained decoders
            for k, (bias, kernel) in enumerate(stack.decoders()):
                model.decoder_biases[k][...] = jnp.asarray(bias[stack_index])
                if kernel is not None:
                    model.decoder_kernels[k][...] = jnp.asarray(kernel[stack_index])
