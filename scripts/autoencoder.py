"""Deep autoencoder, pretrained vs random init vs PCA (Hinton & Salakhutdinov 2006):
python scripts/autoencoder.py [--config=stackae/configs/mnist_autoencoder.py] [--workdir DIR] [--config...].

Pretrains the stack (DIR/pretrain), fine-tunes the unrolled stack on reconstruction (DIR/autoencoder-pretrained),
the same network from finetune.random_init with the same optimiser and budget (DIR/autoencoder-random) and with
Adam (DIR/autoencoder-random-adam), fits PCA with the code size, and writes DIR/autoencoder.json. Each step
resumes or is reused when re-run."""

import sys

from stackae.cli import parse, run_main
from stackae.experiments.compare import compare_reconstruction, format_reconstruction_table


def main():
    cfg, args = parse(sys.argv[1:], __doc__)
    print(format_reconstruction_table(compare_reconstruction(cfg, args.workdir, overwrite=args.overwrite)))
    print(f"results: {args.workdir}/autoencoder.json, {args.workdir}/autoencoder-*/results.json")


if __name__ == "__main__":
    run_main(main)
