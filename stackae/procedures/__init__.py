"""The procedures on arrays: greedy pretraining of a stack, fine-tuning a classifier, fine-tuning the unrolled
deep autoencoder. They take a config and a Dataset and return results; none of them imports the workdir layer."""
