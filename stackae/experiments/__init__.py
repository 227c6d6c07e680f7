"""The experiments above the procedures: the pretrained-vs-random comparison, the label-scarce sweep, the depth
and autoencoder-units studies; each has an in-memory part and a resumable workdir part."""
