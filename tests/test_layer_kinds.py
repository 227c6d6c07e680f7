"""The greedy layers beside the DAE: the contractive autoencoder's closed-form penalty, the RBM's CD-k against
exact expectations on a tiny machine, its likelihood rising with training (both kinds resume bitwise after a
kill: tests/test_resume.py)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import run_script_here, tiny_config
from stackae.core import rbm
from stackae.core.activations import activation
from stackae.core.losses import contraction_penalty
from stackae.core.engine import seed_keys
from stackae.data import dataset_from_arrays
from stackae.procedures.pretrain import LAYER_LOSSES, dae_graphdef, dae_params, pretrain_stack


@pytest.mark.parametrize("name", ["sigmoid", "relu", "tanh", "softplus"])
def test_the_contraction_penalty_is_the_squared_frobenius_norm_of_autodiffs_jacobian(name):
    kx, kw, kb = jax.random.split(jax.random.key(0), 3)
    x, w, b = jax.random.normal(kx, (5, 7)), jax.random.normal(kw, (7, 4)), jax.random.normal(kb, (4,))
    act = activation(name)
    jacobians = jax.vmap(jax.jacfwd(lambda row: act(row @ w + b)))(x)  # (examples, hidden, visible)
    expected = jnp.mean(jnp.sum(jnp.square(jacobians), axis=(1, 2)))
    np.testing.assert_allclose(contraction_penalty(x @ w + b, act, w), expected, rtol=1e-5)


def tiny_rbm(seed=0, visible=4, hidden=3):
    kw, kb, kc = jax.random.split(jax.random.key(seed), 3)
    return (jax.random.normal(kw, (visible, hidden)), 0.5 * jax.random.normal(kb, (visible,)),
            0.5 * jax.random.normal(kc, (hidden,)))


def exact_cd1_update(v0, kernel, visible_bias, hidden_bias):
    """The textbook CD-1 update's expectation over the sampled hidden states, summed exactly over all 2^3 of
    them: <v0 h0>_data - E[v1 h1], with h0 = sigmoid(v0 W + c), v1 = sigmoid(s W^T + b) for a sampled s,
    h1 = sigmoid(v1 W + c) (probabilities, as Hinton's rbm.m)."""
    p_h = jax.nn.sigmoid(v0 @ kernel + hidden_bias)
    positive = jnp.outer(v0, p_h), v0, p_h
    negative = [0.0, 0.0, 0.0]
    for s in itertools.product((0.0, 1.0), repeat=kernel.shape[1]):
        s = jnp.asarray(s)
        weight = jnp.prod(jnp.where(s == 1, p_h, 1 - p_h))
        v1 = jax.nn.sigmoid(kernel @ s + visible_bias)
        h1 = jax.nn.sigmoid(v1 @ kernel + hidden_bias)
        for i, term in enumerate((jnp.outer(v1, h1), v1, h1)):
            negative[i] = negative[i] + weight * term
    return [p - n for p, n in zip(positive, negative)]


def test_cd1s_gradient_is_the_textbook_expectation_on_a_tiny_rbm():
    kernel, visible_bias, hidden_bias = tiny_rbm()
    v0 = jnp.asarray([[1.0, 0.0, 1.0, 1.0]])

    def objective(params, key):
        w, b, c = params
        z0, h0, _, vk, zk, hk = rbm.gibbs_chain(v0, lambda v: v @ w + c, lambda h: h @ w.T + b, "sigmoid", False,
                                                1, key)
        return rbm.cd_objective(v0, z0, h0, vk, zk, hk, b)

    grads = jax.vmap(jax.grad(objective), in_axes=(None, 0))((kernel, visible_bias, hidden_bias),
                                                             jax.random.split(jax.random.key(1), 200_000))
    mean_update = [-jnp.mean(g, axis=0) for g in grads]  # descending the objective = the CD update
    for got, want in zip(mean_update, exact_cd1_update(v0[0], kernel, visible_bias, hidden_bias)):
        np.testing.assert_allclose(got, want, atol=5e-3)


def test_the_exact_log_likelihood_sums_to_one_over_every_visible_state():
    kernel, visible_bias, hidden_bias = tiny_rbm(seed=2)
    states = jnp.asarray(list(itertools.product((0.0, 1.0), repeat=4)))
    log_p = jax.vmap(lambda v: rbm.exact_log_likelihood(v[None], kernel, visible_bias, hidden_bias))(states)
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_p)), 1.0, rtol=1e-5)


def test_persistent_chains_sample_the_rbms_own_distribution():
    # many chains of a fixed tiny RBM, run long: their visible states follow p(v) = exp(-F(v)) / Z exactly
    kernel, visible_bias, hidden_bias = tiny_rbm(seed=3)
    v = jnp.zeros((40_000, 4))
    v, zk, hk = jax.jit(lambda v, key: rbm.persistent_chain(v, lambda x: x @ kernel + hidden_bias,
                                                            lambda h: h @ kernel.T + visible_bias, "sigmoid", False,
                                                            30, key))(v, jax.random.key(4))
    assert set(np.unique(np.asarray(v))) <= {0.0, 1.0}  # the chains' states are samples, not means
    np.testing.assert_allclose(hk, jax.nn.sigmoid(zk))
    states = jnp.asarray(list(itertools.product((0.0, 1.0), repeat=4)))
    exact = np.exp([float(rbm.exact_log_likelihood(s[None], kernel, visible_bias, hidden_bias)) for s in states])
    index = np.asarray(v) @ (2 ** np.arange(3, -1, -1))  # itertools.product's order
    empirical = np.bincount(index.astype(int), minlength=16) / v.shape[0]
    np.testing.assert_allclose(empirical, exact, atol=0.01)


def test_a_momentum_warm_up_uses_the_initial_momentum_then_the_configured_one():
    from stackae.core.optim import make_optimizer

    optimizer = make_optimizer("sgd", 1.0, momentum=0.9, initial_momentum=0.5, momentum_steps=2)
    params, velocity = jnp.zeros(()), 0.0
    state = optimizer.init(params)
    for step, decay in enumerate((0.5, 0.5, 0.9, 0.9)):
        grad = jnp.asarray(float(step + 1))
        updates, state = optimizer.update(grad, state, params)
        velocity = float(grad) + decay * velocity
        np.testing.assert_allclose(updates, -velocity, rtol=1e-6)


# persistent CD wants smaller steps than CD-1: its chains must keep up with the changing model (Tieleman 2008);
# at CD-1's rate 0.05 with momentum 0.9 one seed of PCD-1 lost likelihood
@pytest.mark.parametrize("persistent, rate", [(False, 0.05), (True, 0.01)], ids=["cd1", "pcd1"])
def test_an_rbm_pretrained_on_a_tiny_binary_dataset_raises_its_exact_log_likelihood(persistent, rate):
    rng = np.random.default_rng(0)
    patterns = np.asarray([[1, 1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]])
    labels = rng.integers(0, 3, 600)
    x = np.abs(patterns[labels] - (rng.random((600, 8)) < 0.05)).astype(np.float32)  # 5% of the bits flipped
    data = dataset_from_arrays("bits", x, labels)
    cfg = tiny_config(layer="rbm", activation="sigmoid", epochs=30, learning_rate=rate, batch_size=20,
                      noise="none", l1_activation=0.0)
    cfg.layers, cfg.seeds, cfg.pretrain.persistent = (6,), 2, persistent
    stack = pretrain_stack(cfg, data, log=lambda *_: None)
    keys = jax.vmap(lambda key: jax.random.split(jax.random.fold_in(key, 0))[0])(seed_keys(cfg.seed, cfg.seeds))
    before = dae_params(8, 6, cfg.pretrain, keys)  # the initial parameters, drawn as layer 1's training does
    (w, b), vis = stack.encoders()[0], stack.decoders()[0][0]
    v = jnp.asarray(data.valid_x)
    trained = [float(rbm.exact_log_likelihood(v, w[s], vis[s], b[s])) for s in range(2)]
    untrained = [float(rbm.exact_log_likelihood(v, before["encoder"]["kernel"][...][s], before["decoder_bias"][...][s],
                                                before["encoder"]["bias"][...][s])) for s in range(2)]
    assert all(t > u + 1.0 for t, u in zip(trained, untrained)), (untrained, trained)
    uniform = -8 * np.log(2)
    assert min(trained) > uniform + 1.0, (uniform, trained)  # learnt the patterns, not just a flat model
    history = stack.records[0]["history"]
    assert history[-1]["valid_pseudo_likelihood"] > history[0]["valid_pseudo_likelihood"]


def test_the_rbm_loss_needs_no_dae_noise_and_reports_its_metrics():
    cfg = tiny_config(layer="rbm", activation="sigmoid")
    graphdef = dae_graphdef(5, 3, cfg.pretrain)
    params = jax.tree.map(lambda a: a[0], dae_params(5, 3, cfg.pretrain, jax.random.split(jax.random.key(0), 1)))
    loss_fn, eval_fn = LAYER_LOSSES["rbm"](graphdef, cfg.pretrain, "linear", "sigmoid_cross_entropy")
    x = jax.random.uniform(jax.random.key(1), (4, 5))
    loss, metrics = loss_fn(params, x, jax.random.key(2))
    assert np.isfinite(loss) and set(eval_fn(params, x)) == {"reconstruction", "sparsity", "pseudo_likelihood"}


@pytest.mark.parametrize("override, phrase", [
    ("--config.pretrain.layer=boltzmann", "choose one of: dae, cae, rbm"),
    ("--config.pretrain.cd_steps=0", "must be >= 1"),
    ("--config.pretrain.contraction=-0.1", "must be >= 0"),
    ("--config.pretrain.layer=rbm --config.pretrain.activation=tanh", "an rbm's pretrain.activation is sigmoid"),
    ("--config.pretrain.layer=rbm --config.pretrain.persistent=True", "layer 2 is a persistent-CD rbm with Gaussian"),
    ("--config.pretrain.momentum_warmup_epochs=-1", "must be >= 0"),
])
def test_bad_layer_kind_input_is_one_sentence_exit_2_and_writes_nothing(tmp_path, override, phrase):
    proc = run_script_here("pretrain", "--workdir", tmp_path / "w", *override.split())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and phrase in proc.stderr, proc.stderr
    assert not (tmp_path / "w").exists()


def test_finetuning_from_a_stack_of_another_layer_kind_is_refused_and_pretrained_names_the_kind(tmp_path):
    tiny = ["--workdir", tmp_path, "--config.layers=(8,)", "--config.pretrain.epochs=1", "--config.diagnostics=False"]
    assert run_script_here("pretrain", *tiny, "--config.pretrain.layer=cae").returncode == 0
    proc = run_script_here("finetune", "--workdir", tmp_path, "--init", "rbm")
    assert proc.returncode == 2 and "has cae layers; pretrain with --config.pretrain.layer=rbm" in proc.stderr
    assert not (tmp_path / "finetune-rbm").exists()
    proc = run_script_here("finetune", "--workdir", tmp_path, "--config.finetune.epochs=1")
    assert proc.returncode == 0 and "(method cae)" in proc.stdout, proc.stderr[-2000:]
