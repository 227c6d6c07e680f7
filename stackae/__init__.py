"""stackae: greedy layer-wise pretraining of deep networks (stacked denoising autoencoders) in JAX."""

__version__ = "0.1.0"
