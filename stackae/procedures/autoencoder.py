"""Deep autoencoders (Hinton & Salakhutdinov 2006): unroll a pretrained stack into an encoder-decoder, or draw
the same network from a random init, and fine-tune it on reconstruction with early stopping on the validation
squared error; every seed in one program. PCA with the same code size is the linear baseline.

`finetune_reconstruction(cfg, data, init)` works on arrays and returns an `AutoencoderRun`;
`stackae.workdir.autoencoder.reconstruction_run` wraps it with the workdir layer (resume, refusal of mismatched runs,
results.json).
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stackae.config import activations_of
from stackae.core.diagnostics import activation_stats, gradient_warnings
from stackae.core.engine import check_batches, device_mesh, make_epoch, replicate, seed_keys
from stackae.core.inits import INITS, lsuv
from stackae.core.losses import RECONSTRUCTION_UNITS, RECONSTRUCTIONS, squared_error
from stackae.core.models import DeepAutoencoder
from stackae.core.optim import make_optimizer, rate_factors
from stackae.core.stats import finite_mean
from stackae.core.training import EpochLog, resume_states, train_epochs
from stackae.errors import ConfigError
from stackae.methods import RANDOM_INITS
from stackae.procedures.finetune import INIT_BATCH, early_stopping, finetune_state
from stackae.procedures.pretrain import Stack, reconstruction_of

AUTOENCODER_INITS = (*RANDOM_INITS, "lsuv", "dae")
UNITS = {"sigmoid_cross_entropy": "sigmoid", "softplus_squared_error": "softplus", "relu_squared_error": "relu",
         "linear_squared_error": "linear"}


def decoder_activations(cfg) -> tuple[str, ...]:
    """Output units of each decoder, top-down. The last reconstructs the input with layer 1's reconstruction
    units. The hidden ones, with autoencoder.decoders="recipe", use the reconstruction units their DAE layer is
    pretrained with (softplus for rectifier codes, linear for signed codes); with "mirror", the activation of
    the encoder layer they mirror (the usual hand-built autoencoder)."""
    depth, encoders = len(cfg.layers), activations_of(cfg)
    if cfg.autoencoder.decoders == "mirror":
        hidden = tuple(encoders[depth - 2 - k] for k in range(depth - 1))
    else:
        hidden = tuple(UNITS[reconstruction_of(cfg, k)] for k in reversed(range(1, depth)))
    return (*hidden, UNITS[reconstruction_of(cfg, 0)])


def autoencoder(cfg, n_features: int, key, init: str = "he") -> DeepAutoencoder:
    """The config's deep autoencoder: input - layers - code - layers reversed - input, random kernels of `init`
    (He for the non-random inits)."""
    return DeepAutoencoder((n_features, *cfg.layers), encoder_activations=activations_of(cfg),
                           decoder_activations=decoder_activations(cfg), init=init if init in INITS else "he",
                           rngs=nnx.Rngs(key))


def unroll(model: DeepAutoencoder, stack: Stack, seed_index: int):
    """Set `model` from seed `seed_index` of a pretrained stack: the encoders in order, then the layers' decoders
    in reverse order, untied from here on (a tied layer's decoder starts as its encoder kernel transposed)."""
    depth = len(stack.layers)
    for k, layer in enumerate(stack.layers):
        p = nnx.to_pure_dict(jax.tree.map(lambda a: a[seed_index], layer))
        encoder, decoder = model.encoders[k], model.decoders[depth - 1 - k]
        encoder.kernel[...] = jnp.asarray(p["encoder"]["kernel"])
        encoder.bias[...] = jnp.asarray(p["encoder"]["bias"])
        tied = p.get("decoder_kernel") is None
        decoder.kernel[...] = jnp.asarray(p["encoder"]["kernel"]).T if tied else jnp.asarray(p["decoder_kernel"])
        decoder.bias[...] = jnp.asarray(p["decoder_bias"])
        if p.get("slope") is not None:  # a prelu layer's learned slope
            model.slopes[k][...] = jnp.asarray(p["slope"])


def reconstruction_loss(graphdef, reconstruction: str):
    """loss_fn(params, batch, key): the reconstruction loss of the bottom DAE layer (cross-entropy for pixels);
    eval_fn(params, held_out): squared error per example ("error", early stopping's measure) and that loss."""
    loss_of, units = RECONSTRUCTIONS[reconstruction], RECONSTRUCTION_UNITS[reconstruction]

    def loss_fn(params, batch, key):  # no noise: fine-tuning reconstructs clean inputs (the key serves rrelu)
        return loss_of(nnx.merge(graphdef, params)(batch["x"], key), batch["x"]), {}

    def eval_fn(params, held_out):
        out = nnx.merge(graphdef, params)(held_out["x"])
        return {"error": squared_error(units(out), held_out["x"]), "loss": loss_of(out, held_out["x"])}

    return loss_fn, eval_fn


def autoencoder_probe(graphdef):
    """probe_fn(params, held_out): activation statistics of every hidden layer (code layer included)."""
    def probe_fn(params, held_out):
        model = nnx.merge(graphdef, params)
        return activation_stats(*model.hidden_trace(held_out["x"]), model.hidden_activation_names())
    return probe_fn


@dataclasses.dataclass
class AutoencoderRun:
    """The outcome of `finetune_reconstruction`: one row per seed and the best parameters, stacked over seeds."""

    method: str
    rows: list[dict]
    graphdef: object
    params: object
    history: list[dict]
    seconds: float

    def _model(self, member: int) -> DeepAutoencoder:
        return nnx.merge(self.graphdef, jax.tree.map(lambda a: a[member], self.params))

    def encode(self, x_nd, member: int = 0) -> np.ndarray:
        """Code-layer activations of seed `member` for `x_nd`."""
        return np.asarray(self._model(member).encode(jnp.asarray(x_nd)))

    def reconstruct(self, x_nd, member: int = 0) -> np.ndarray:
        """Reconstructions of `x_nd` by seed `member` (the output units applied)."""
        return np.asarray(self._model(member).reconstruct(jnp.asarray(x_nd)))


def initial_autoencoders(cfg, data, init: str, stack: Stack | None, seeds):
    """(graphdef, parameters stacked over seeds) of the deep autoencoder as `init` says: random kernels, LSUV on
    unlabelled training examples, or the unrolled pretrained stack."""
    keys = jax.vmap(lambda key: jax.random.fold_in(key, 3000))(seed_keys(seeds[0], len(seeds)))
    graphdef, params = None, []
    for i, seed in enumerate(seeds):
        model_key, data_key = jax.random.split(keys[i])
        model = autoencoder(cfg, data.n_features, model_key, init)
        if init == "lsuv":
            pick = np.random.default_rng(seed).choice(len(data.train_x), min(INIT_BATCH, len(data.train_x)), False)
            lsuv(model, jnp.asarray(data.train_x[np.sort(pick)]), data_key)
        elif init == "dae":
            if seed not in stack.seeds:
                raise ConfigError(f"the pretrained stack holds seeds {stack.seeds} but seed {seed} was asked for; "
                                  "pretrain with at least as many seeds.")
            unroll(model, stack, stack.seeds.index(seed))
        graphdef, p = nnx.split(model, nnx.Param)
        params.append(p)
    return graphdef, jax.tree.map(lambda *a: jnp.stack(a), *params)


def check_init(init: str):
    if init not in AUTOENCODER_INITS:
        raise ConfigError(f"unknown deep-autoencoder init '{init}'; choose one of {', '.join(AUTOENCODER_INITS)} "
                          "(scripts take pretrained and random too).")


def _drops(a) -> str:
    return "".join(f", x{a.rate_drop_factor:g} after epoch {e}" for e in a.rate_drop_epochs)


def finetune_reconstruction(cfg, data, init="he", *, stack: Stack | None = None, resume=None, log=print,
                            desc: str | None = None) -> AutoencoderRun:
    """Fine-tune the config's deep autoencoder from `init` (a random scheme, "lsuv", or a pretrained Stack) on
    `data.train_x` with the `autoencoder.*` settings, for every seed of the config at once; early stopping and
    best-epoch restore on the validation squared error. Nothing is written unless `resume` is given."""
    if isinstance(init, Stack):
        init, stack = "dae", init
    check_init(init)
    if init == "dae" and stack is None:
        raise ConfigError("init 'dae' unrolls a pretrained stack; pass stack=pretrain_stack(...).")
    a = cfg.autoencoder
    seeds = tuple(cfg.seed + s for s in range(cfg.seeds))
    mesh = device_mesh()
    check_batches(len(data.train_x), a.batch_size, "the autoencoder's training data", mesh)
    graphdef, params = initial_autoencoders(cfg, data, init, stack, seeds)
    optimizer = make_optimizer(a.optimizer, a.learning_rate, a.momentum, a.schedule,
                               a.epochs * (len(data.train_x) // a.batch_size))
    states = jax.vmap(lambda p: finetune_state(p, optimizer))(params)
    keys = jax.vmap(lambda key: jax.random.fold_in(key, 4000))(seed_keys(cfg.seed, cfg.seeds))
    states, start, history = resume_states(resume, states, log, f"{desc or init} at epoch")
    states = replicate(states, mesh)
    loss_fn, eval_fn = reconstruction_loss(graphdef, reconstruction_of(cfg, 0))
    epoch_fn = make_epoch(loss_fn, optimizer, a.batch_size, eval_fn, early_stopping(a.patience), mesh=mesh,
                          gradient_diagnostics=cfg.diagnostics,
                          probe_fn=autoencoder_probe(graphdef) if cfg.diagnostics else None,
                          rate_scale=rate_factors(a.epochs, a.rate_drop_epochs, a.rate_drop_factor)
                          if a.rate_drop_epochs else None)
    train = replicate({"x": jnp.asarray(data.train_x)}, mesh)
    valid = replicate({"x": jnp.asarray(data.valid_x)}, mesh)
    where = desc or f"autoencoder-{init}"
    log(f"fine-tuning the deep autoencoder {'-'.join(map(str, (data.n_features, *cfg.layers)))} from {init} on "
        f"{data.name} ({a.optimizer}, learning rate {a.learning_rate}{_drops(a)}): {len(data.train_x)} training and "
        f"{len(data.valid_x)} validation examples, {len(seeds)} seed(s)")
    check = gradient_warnings("encoders.0.kernel", f"decoders.{len(cfg.layers) - 1}.kernel", where) \
        if cfg.diagnostics else None
    epoch_log = EpochLog(where, start, a.epochs, _fmt(where, a.epochs), history, log, check)
    t0 = time.perf_counter()
    states = train_epochs(epoch_fn, states, train, valid, keys, epoch_log, resume, start=start, epochs=a.epochs,
                          every=cfg.checkpoint_every, step0=0, position={}, where=where,
                          learning_rate=a.learning_rate, rate_key="autoencoder.learning_rate", seed=cfg.seed, log=log)
    test = replicate({"x": jnp.asarray(data.test_x)}, mesh)
    test_metrics = jax.device_get(jax.jit(jax.vmap(eval_fn, in_axes=(0, None)))(states["best_params"], test))
    host = jax.device_get({k: states[k] for k in ("best_error", "best_epoch", "epochs_run", "diverged")})
    rows = [{"seed": int(seed), "valid_squared_error": float(host["best_error"][m]),
             "test_squared_error": float(test_metrics["error"][m]), "test_loss": float(test_metrics["loss"][m]),
             "best_epoch": int(host["best_epoch"][m]) + 1, "epochs": int(host["epochs_run"][m]),
             "diverged": bool(host["diverged"][m])} for m, seed in enumerate(seeds)]
    return AutoencoderRun(init, rows, graphdef, states["best_params"], epoch_log.history, time.perf_counter() - t0)


def _fmt(where, total):
    def fmt(epoch, m, seconds):
        return (f"{where} epoch {epoch + 1}/{total}: train loss {finite_mean(m['loss']):.3f}  valid squared error "
                f"{finite_mean(m['valid_error']):.3f}  valid loss {finite_mean(m['valid_loss']):.3f}  {seconds:.1f}s")
    return fmt


def pca_baseline(data, n_components: int) -> dict:
    """PCA fitted on the training pool with `n_components` components (scikit-learn): test squared error per
    example of its reconstructions, and the fitted PCA."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n_components, svd_solver="full").fit(data.train_x.astype(np.float64))
    recon = pca.inverse_transform(pca.transform(data.test_x.astype(np.float64)))
    return {"test_squared_error": float(np.mean(np.sum((recon - data.test_x) ** 2, axis=1))), "pca": pca}
