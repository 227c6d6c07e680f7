"""Greedy layer-wise pretraining of a stack of denoising autoencoders (or contractive autoencoders, or RBMs:
`pretrain.layer`, each kind a loss on the same tied-or-untied layer, so stacking and unrolling stay generic).

Layer k trains on the clean codes of layers 1..k-1, computed once for the whole pool and kept on the device;
lower layers never change while layer k trains; each layer gets a fresh optimiser state. All seeds train at
once (vmap over the train state). Given a store (`stackae.workdir.pretrain.LayerStore`), a finished layer is
checkpointed and a killed run resumes from the latest epoch checkpoint.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stackae.config import layer_config, reconstruction_of
from stackae.core.activations import SELF_APPLIED, activation, apply_activation
from stackae.core.diagnostics import activation_stats, gradient_warnings
from stackae.core.engine import check_batches, device_mesh, init_train_state, make_epoch, replicate, seed_keys
from stackae.core import rbm
from stackae.core.losses import RECONSTRUCTION_UNITS, RECONSTRUCTIONS, contraction_penalty, l1_activation_penalty, \
                                weight_penalty
from stackae.core.models import DenoisingAutoencoder
from stackae.core.noise import corrupt
from stackae.core.optim import make_optimizer
from stackae.core.stats import finite_mean
from stackae.core.training import EpochLog, train_epochs
from stackae.provenance import data_fingerprint

CODE_CHUNK = 4096  # examples per chunk when caching codes
FINAL_METRICS = {"train_reconstruction": "reconstruction", "valid_reconstruction": "valid_reconstruction",
                 "sparsity": "sparsity"}


def dae_module(n_in: int, n_hidden: int, lc, key) -> DenoisingAutoencoder:
    return DenoisingAutoencoder(
        n_in, n_hidden, activation_name=lc.activation, tied=lc.tied, init=lc.init, rngs=nnx.Rngs(key)
    )


def dae_graphdef(n_in: int, n_hidden: int, lc):
    """Static graph definition of one DAE layer (no parameters are initialised)."""
    return nnx.graphdef(nnx.eval_shape(lambda: dae_module(n_in, n_hidden, lc, jax.random.key(0))))


def dae_params(n_in: int, n_hidden: int, lc, keys):
    """Freshly initialised parameters of one DAE layer per key, stacked over seeds."""
    return jax.vmap(lambda key: nnx.state(dae_module(n_in, n_hidden, lc, key)))(keys)


def dae_loss(graphdef, lc, input_activation: str, reconstruction: str):
    """loss_fn(params, a_bd, key) of one DAE layer fed the lower layer's pre-activations `a_bd`
    (pixels for layer 1, and the outputs of a prelu/rrelu layer: input_activation "linear"). Corruption:
    optional Gaussian noise on the lower pre-activation before its rectifier, then the configured input noise.
    eval_fn(params, a_bd) measures the same with a fixed key and rrelu in evaluation mode."""
    act_in = activation(input_activation)
    recon_loss = RECONSTRUCTIONS[reconstruction]

    def loss_fn(params, a_bd, key, train=True):
        model = nnx.merge(graphdef, params)
        preact_key, noise_key = jax.random.split(key)
        clean = act_in(a_bd)
        noisy = clean
        if lc.preact_noise > 0:
            noisy = act_in(a_bd + lc.preact_noise * jax.random.normal(preact_key, a_bd.shape, a_bd.dtype))
        z = model.encode_preactivation(corrupt(lc.noise, noise_key, noisy, lc.noise_level))
        h = model.activate(z, jax.random.fold_in(key, 1) if train and lc.activation == "rrelu" else None)
        rec = recon_loss(model.decode_preactivation(h), clean)
        weights = [model.encoder.kernel[...]] + ([] if model.decoder_kernel is None else [model.decoder_kernel[...]])
        penalty = lc.l1_activation * l1_activation_penalty(h) + weight_penalty(weights, lc.l1_weight, lc.l2_weight)
        metrics = {"reconstruction": rec, "sparsity": jnp.mean(h == 0)}
        if lc.layer == "cae":  # the Jacobian at the encoder's input (the corrupted one, where noise is on)
            metrics["contraction"] = contraction_penalty(z, model.activate, model.encoder.kernel[...])
            penalty += lc.contraction * metrics["contraction"]
        return rec + penalty, metrics

    def eval_fn(params, a_bd):
        return loss_fn(params, a_bd, jax.random.key(0), train=False)[1]

    return loss_fn, eval_fn


def rbm_loss(graphdef, lc, input_activation: str, reconstruction: str):
    """loss_fn(params, a_bd, key[, chains]) of one RBM layer (stackae.core.rbm) on the tied layer's weights, fed
    the lower layer's pre-activations: CD-k's objective, whose gradient is the CD update, plus the weight decay
    (pretrain.l2_weight, Hinton's practical guide). The DAE's noise and activation penalty do not apply
    (sampling is an RBM's noise). With pretrain.persistent the negative phase runs from `chains`, the visible
    states the last step left (persistent CD), and loss_fn returns (loss, (metrics, new chains)). Metrics: the
    squared error of the data's one-step reconstruction (from sampled hidden states, as rbm.m reports it) and,
    on held-out data of Bernoulli-Bernoulli layers, the stochastic log pseudo-likelihood per example.
    eval_fn(params, a_bd[, chains]): the held-out metrics, with a fixed key."""
    act_in = activation(input_activation)
    gaussian = reconstruction == "linear_squared_error"

    def loss_fn(params, a_bd, key, chains=None, train=True):
        model = nnx.merge(graphdef, params)
        kernel, hidden_bias, visible_bias = model.encoder.kernel[...], model.encoder.bias[...], model.decoder_bias[...]
        v0 = act_in(a_bd)
        chain_key, pl_key = jax.random.split(key)
        gibbs = (model.encode_preactivation, model.decode_preactivation, lc.activation, gaussian)
        if chains is None:
            z0, h0, v1, vk, zk, hk = rbm.gibbs_chain(v0, *gibbs, lc.cd_steps, chain_key)
        else:
            z0, h0, v1, *_ = rbm.gibbs_chain(v0, *gibbs, 1, chain_key)
            vk, zk, hk = rbm.persistent_chain(chains, *gibbs, lc.cd_steps, jax.random.fold_in(key, 2))
        objective = rbm.cd_objective(v0, z0, h0, vk, zk, hk, visible_bias)
        metrics = {"reconstruction": jnp.mean(jnp.sum(jnp.square(v1 - v0), axis=-1)), "sparsity": jnp.mean(h0 == 0)}
        if not train and not gaussian and lc.activation == "sigmoid":
            metrics["pseudo_likelihood"] = jnp.mean(rbm.pseudo_likelihood(v0, kernel, visible_bias, hidden_bias,
                                                                          pl_key))
        loss = objective + weight_penalty([kernel], lc.l1_weight, lc.l2_weight)
        return (loss, metrics) if chains is None else (loss, (metrics, vk))

    def eval_fn(params, a_bd, chains=None):
        return loss_fn(params, a_bd, jax.random.key(0), train=False)[1]

    return loss_fn, eval_fn


def initial_chains(train_a, n_chains: int, input_activation: str, keys):
    """Persistent CD's chains at the start: `n_chains` training inputs per seed, drawn without replacement
    (train_a of every seed, or shared by all: a leading seed axis or none)."""
    act_in = activation(input_activation)

    def one_seed(key, a):
        return act_in(a[jax.random.choice(jax.random.fold_in(key, 3), a.shape[0], (n_chains,), replace=False)])

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0 if train_a.ndim == 3 else None)))(keys, train_a)


LAYER_LOSSES = {"dae": dae_loss, "cae": dae_loss, "rbm": rbm_loss}  # pretrain.layer -> its loss_fn, eval_fn


def dae_probe(graphdef, input_activation: str, hidden_activation: str):
    """probe_fn(params, a_bd): activation statistics of the layer's hidden units on clean held-out inputs."""
    def probe_fn(params, a_bd, extra=None):
        model = nnx.merge(graphdef, params)
        z = model.encode_preactivation(activation(input_activation)(a_bd))
        return activation_stats([z], [model.activate(z)], [hidden_activation])
    return probe_fn


@functools.partial(jax.jit, static_argnames=("graphdef", "input_activation", "activated"))
def layer_preactivations(graphdef, params, a_nd, input_activation: str, activated: bool = False):
    """Pre-activations of one DAE layer for every seed (params stacked on a seed axis), computed in chunks;
    `activated`: its outputs instead (evaluation mode), for layers that apply their own activation."""

    def one_seed(p, a):
        model = nnx.merge(graphdef, p)
        layer = model.encode if activated else model.encode_preactivation
        return jax.lax.map(lambda row: layer(activation(input_activation)(row)), a, batch_size=CODE_CHUNK)

    in_axes = (0, 0 if a_nd.ndim == 3 else None)
    return jax.vmap(one_seed, in_axes=in_axes)(params, a_nd)


def _fmt(k: int, lc):
    def fmt(epoch, m, seconds):
        bad = int(np.sum(~np.isfinite(m["loss"])))
        extra = "".join(f"  {name.replace('_', ' ')} {finite_mean(m['valid_' + name]):.4f}"
                        for name in ("contraction", "pseudo_likelihood") if "valid_" + name in m)
        return (f"layer {k + 1} epoch {epoch + 1}/{lc.epochs}: recon train {finite_mean(m['reconstruction']):.4f} "
                f"valid {finite_mean(m['valid_reconstruction']):.4f}  zero-activations {finite_mean(m['sparsity']):.3f}"
                f"{extra}  {seconds:.1f}s" + (f"  non-finite seeds: {bad}" if bad else ""))
    return fmt


def train_layer(k, cfg, train_a, valid_a, input_activation, per_seed, mesh, resume, step0, log):
    """Train DAE layer k (0-based) for all seeds; returns (graphdef, params stacked over seeds, record)."""
    lc = layer_config(cfg, k)
    n_in, n_hidden = train_a.shape[-1], cfg.layers[k]
    graphdef = dae_graphdef(n_in, n_hidden, lc)
    steps_per_epoch = train_a.shape[-2] // lc.batch_size
    optimizer = make_optimizer(lc.optimizer, lc.learning_rate, lc.momentum, lc.schedule, lc.epochs * steps_per_epoch,
                               initial_momentum=lc.initial_momentum,
                               momentum_steps=lc.momentum_warmup_epochs * steps_per_epoch)

    keys = jax.vmap(lambda key: jax.random.fold_in(key, k))(seed_keys(cfg.seed, cfg.seeds))
    init_keys, train_keys = jax.vmap(lambda key: tuple(jax.random.split(key)))(keys)
    persistent = lc.layer == "rbm" and lc.persistent
    chains = initial_chains(train_a, lc.batch_size, input_activation, init_keys) if persistent else None
    # one program, not one per operation (compiling those took seconds on a GPU)
    states = jax.jit(lambda keys, chains: jax.vmap(lambda p, c: init_train_state(p, optimizer, c))(
        dae_params(n_in, n_hidden, lc, keys), chains))(init_keys, chains)
    start, history = 0, []
    position = resume.latest_position() if resume is not None else None
    if position and position.get("layer") == k:
        states = resume.restore_state(position["step"], states)
        start, history = position["epoch"], position["history"]
        log(f"resuming layer {k + 1} at epoch {start + 1}")
    states = replicate(states, mesh)
    reconstruction = reconstruction_of(cfg, k)
    loss_fn, eval_fn = LAYER_LOSSES[lc.layer](graphdef, lc, input_activation, reconstruction)
    probe_fn = dae_probe(graphdef, input_activation, lc.activation) if cfg.diagnostics else None
    epoch_fn = make_epoch(loss_fn, optimizer, lc.batch_size, eval_fn, data_axes=(0, 0) if per_seed else (None, None),
                          mesh=mesh, gradient_diagnostics=cfg.diagnostics, probe_fn=probe_fn)
    check = gradient_warnings("encoder.kernel", "encoder.kernel", f"pretraining layer {k + 1}") \
        if cfg.diagnostics else None
    epoch_log = EpochLog(f"layer {k + 1}", start, lc.epochs, _fmt(k, lc), history, log, check)
    states = train_epochs(epoch_fn, states, train_a, valid_a, train_keys, epoch_log, resume, start=start,
                          epochs=lc.epochs, every=cfg.checkpoint_every, step0=step0, position={"layer": k},
                          where=f"pretraining layer {k + 1}", learning_rate=lc.learning_rate,
                          rate_key="pretrain.learning_rate", seed=cfg.seed, log=log)
    last = epoch_log.history[-1] if epoch_log.history else {}
    record = {
        "layer": k + 1, "n_in": int(n_in), "n_hidden": int(n_hidden), "activation": lc.activation,
        "layer_kind": lc.layer, "reconstruction": reconstruction,
        "noise": "none" if lc.layer == "rbm" else lc.noise,  # an rbm's sampling is its noise
        "noise_level": 0.0 if lc.layer == "rbm" else lc.noise_level, "epochs": lc.epochs,
        **{name: finite_mean(last.get(metric)) for name, metric in FINAL_METRICS.items()},
        **{f"{name}_per_seed": last.get(metric) for name, metric in FINAL_METRICS.items()},
        "diverged": np.asarray(states["diverged"]).tolist(),
        "seconds": epoch_log.seconds, "history": epoch_log.history,
    }
    return graphdef, states["params"], record


@dataclasses.dataclass
class Stack:
    """A pretrained stack: per layer, the DAE parameters stacked over seeds, and the layer's training record."""

    seeds: list[int]
    layers: list
    records: list[dict]
    graphdefs: list

    def encoders(self):
        """Encoder kernels and biases of every layer, stacked over seeds: [(w_sdh, b_sh), ...]."""
        return [(p["encoder"]["kernel"][...], p["encoder"]["bias"][...]) for p in self.layers]

    def decoders(self):
        """Decoder biases and kernels (None where tied) of every layer, stacked over seeds: [(c_sd, v_shd), ...]."""
        return [(p["decoder_bias"][...], None if p.get("decoder_kernel") is None else p["decoder_kernel"][...])
                for p in self.layers]

    def slopes(self):
        """The learned slope of every prelu layer, stacked over seeds: [s_sh or None, ...]."""
        return [nnx.to_pure_dict(p).get("slope") for p in self.layers]

    def encode(self, x_nd, seed_index: int = 0):
        """Hidden codes of the top layer for `x_nd`, with the stack of seed `seed_index`."""
        h = jnp.asarray(x_nd)
        for (w, b), slope, record in zip(self.encoders(), self.slopes(), self.records):
            h = apply_activation(record["activation"], h @ w[seed_index] + b[seed_index],
                                 None if slope is None else slope[seed_index])
        return h

    def reconstruct(self, x_nd, seed_index: int = 0):
        """Layer 1's reconstruction of `x_nd` (pass corrupted inputs to see the denoising)."""
        model = nnx.merge(self.graphdefs[0], jax.tree.map(lambda a: a[seed_index], self.layers[0]))
        units = RECONSTRUCTION_UNITS[self.records[0]["reconstruction"]]
        return units(model.decode_preactivation(model.encode(jnp.asarray(x_nd))))


def check_pretraining_data(cfg, data, mesh=None):
    """One-sentence errors for a pool too small for any layer's minibatch."""
    for k in range(len(cfg.layers)):
        check_batches(len(data.train_x), layer_config(cfg, k).batch_size, f"layer {k + 1} pretraining data", mesh)


def pretrain_stack(cfg, data, *, store=None, log=print) -> Stack:
    """Pretrain every layer of `cfg.layers` greedily on `data.train_x` (all seeds at once); returns the Stack.
    With a `store` (the workdir layer's `LayerStore`: `load`, `save` and a `resume` checkpointer), finished layers
    are loaded or saved and epochs checkpointed; without, nothing is written."""
    mesh = device_mesh()
    check_pretraining_data(cfg, data, mesh)
    train_a, valid_a = replicate(jnp.asarray(data.train_x), mesh), replicate(jnp.asarray(data.valid_x), mesh)
    resume = store.resume if store is not None else None
    input_activation, per_seed, step0, records, layers, graphdefs = "linear", False, 0, [], [], []
    n_layers = len(cfg.layers)
    log(f"pretraining {n_layers} layer{'s' if n_layers > 1 else ''} on {data.name}: {data.train_x.shape[0]} "
        f"examples, {cfg.seeds} seed(s), {jax.device_count()} device(s) ({jax.devices()[0].platform})")
    for k in range(n_layers):
        lc = layer_config(cfg, k)
        loaded = store.load(k, train_a.shape[-1]) if store is not None else None
        if loaded is not None:
            record, params = loaded
            graphdef = dae_graphdef(train_a.shape[-1], cfg.layers[k], lc)
            log(f"layer {k + 1} already trained; loaded {store.out / f'layer_{k + 1}'}")
        else:
            graphdef, params, record = train_layer(
                k, cfg, train_a, valid_a, input_activation, per_seed, mesh, resume, step0, log)
            if store is not None:
                store.save(k, params, record)
        records.append(record)
        layers.append(params)
        graphdefs.append(graphdef)
        step0 += lc.epochs
        if k + 1 < n_layers:
            own = lc.activation in SELF_APPLIED  # its slope lives in the layer: cache its outputs
            train_a = layer_preactivations(graphdef, params, train_a, input_activation, own)
            valid_a = layer_preactivations(graphdef, params, valid_a, input_activation, own)
            input_activation, per_seed = "linear" if own else lc.activation, True
    if resume is not None:
        resume.close()
    return Stack([cfg.seed + s for s in range(cfg.seeds)], layers, records, graphdefs)


def stack_summary(stack: Stack, data) -> dict:
    """The JSON summary of a pretrained stack (per-layer records without their epoch history)."""
    return {
        "dataset": data.name, "seeds": stack.seeds, "n_features": data.n_features,
        "pool_examples": int(data.train_x.shape[0]), "data": data_fingerprint(data),
        "layers": [{k: v for k, v in r.items() if k != "history"} for r in stack.records],
        "seconds": float(sum(r["seconds"] for r in stack.records)),
    }








