import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stackae.core.losses import sigmoid_cross_entropy
from stackae.core.models import DenoisingAutoencoder, StackedClassifier


def reconstruction_loss(model, x):
    return sigmoid_cross_entropy(model.decode_preactivation(model.encode(x)), x)


def test_tied_decoder_holds_no_matrix_of_its_own():
    model = DenoisingAutoencoder(6, 4, tied=True, rngs=nnx.Rngs(0))
    shapes = [p.shape for p in jax.tree.leaves(nnx.state(model, nnx.Param))]
    assert sorted(shapes) == sorted([(6, 4), (4,), (6,)])  # one kernel, two biases


def test_tied_kernel_gets_gradient_from_encoder_and_decoder():
    x = jax.random.uniform(jax.random.key(1), (8, 6))
    tied = DenoisingAutoencoder(6, 4, tied=True, rngs=nnx.Rngs(0))
    untied = DenoisingAutoencoder(6, 4, tied=False, rngs=nnx.Rngs(0))
    w = tied.encoder.kernel[...]
    untied.encoder.kernel[...] = w
    untied.encoder.bias[...] = tied.encoder.bias[...]
    untied.decoder_kernel[...] = w.T  # same function, but two separate matrices
    np.testing.assert_allclose(reconstruction_loss(tied, x), reconstruction_loss(untied, x), rtol=1e-6)

    g_tied = nnx.grad(reconstruction_loss)(tied, x)["encoder"]["kernel"][...]
    g_untied = nnx.grad(reconstruction_loss)(untied, x)
    g_enc, g_dec = g_untied["encoder"]["kernel"][...], g_untied["decoder_kernel"][...]
    np.testing.assert_allclose(g_tied, g_enc + g_dec.T, rtol=1e-5, atol=1e-7)
    assert np.abs(g_dec).max() > 1e-4 and np.abs(g_enc).max() > 1e-4  # both sides really contribute


def test_stacked_classifier_is_the_composition_of_its_layers():
    model = StackedClassifier((5, 4, 3), 2, activation_names=("relu", "tanh"), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(2), (7, 5))
    h = jax.nn.relu(x @ model.encoders[0].kernel[...] + model.encoders[0].bias[...])
    h = jnp.tanh(h @ model.encoders[1].kernel[...] + model.encoders[1].bias[...])
    want = h @ model.head.kernel[...] + model.head.bias[...]
    np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-6)
