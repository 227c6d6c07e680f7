"""Dense-layer matmuls arranged so that XLA never transposes a weight matrix on a training step.

JAX differentiates `x @ w` (w of shape [in, out]) into `dot(g, x)` of shape [out, in] followed by a
transpose, and XLA's CPU backend reads that gradient transposed in the optimiser update; `a @ w.T` makes it
copy w into its transpose first. Both are strided passes over a whole matrix on every step (measured on a
2-core CPU: 2-5% of a 784-1000 DAE step, 8-16% of a 784-1000-1000-1000-10 classifier step). Here the weight
gradient is `x^T g`, contracted over the batch (already shaped [in, out]), and `a @ w.T` is computed as
`(w a^T)^T`, which transposes only the small activations. The results are the same sums, up to float rounding.

The two gradients leave the backward pass together (an optimisation barrier): a layer's weight gradient can be
ready before grad_x has read the weight, and XLA then copies the weight on every step so that the update can
overwrite it in place (two 1000 x 1000 copies per step of the 784-1000-1000-1000-10 classifier; 4% of its epoch
on a 2-core CPU). The barrier only orders the work: the numbers are bitwise the same.
"""

import functools

import jax
import jax.numpy as jnp


def matmul_transposed(a, w, precision=None):
    """a[..., k] @ w[n, k]^T, as (w a^T)^T."""
    out = jax.lax.dot_general(w, a, (((1,), (a.ndim - 1,)), ((), ())), precision=precision)  # [n, ...]
    return jnp.moveaxis(out, 0, -1)


def contract_last_with_first(x, w, precision=None):
    """x[..., k] @ w[k, n], as `nnx.Linear` contracts (no custom gradient)."""
    return jax.lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())), precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def dense_matmul(x, w, precision=None):
    """x[..., in] @ w[in, out]."""
    return contract_last_with_first(x, w, precision)


def _forward(x, w, precision):
    return contract_last_with_first(x, w, precision), (x, w)


def dense_gradients(x, w, g, precision=None):
    """(grad_x, grad_w) of x @ w for the output cotangent g, in no particular order."""
    lead = tuple(range(x.ndim - 1))
    return matmul_transposed(g, w, precision), jax.lax.dot_general(x, g, ((lead, lead), ((), ())), precision=precision)


def _backward(precision, residuals, g):
    # both leave together, so grad_x reads w before any update writes it
    return jax.lax.optimization_barrier(dense_gradients(*residuals, g, precision))


dense_matmul.defvjp(_forward, _backward)


def dense_dot_general(lhs, rhs, dimension_numbers, precision=None, **kwargs):
    """A drop-in `dot_general` for `nnx.Linear`: `dense_matmul` for its x[..., in] @ w[in, out] contraction,
    `jax.lax.dot_general` for anything else."""
    standard = dimension_numbers == (((lhs.ndim - 1,), (0,)), ((), ())) and rhs.ndim == 2
    if standard and all(v is None for v in kwargs.values()):
        return dense_matmul(lhs, rhs, precision)
    return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision, **kwargs)
