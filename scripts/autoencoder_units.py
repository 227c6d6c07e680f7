"""Which units can an autoencoder use? python scripts/autoencoder_units.py
[--config=stackae/configs/mnist_autoencoder_units.py] [--workdir DIR] [--hidden sigmoid,relu,leaky_relu,elu]
[--codes linear,relu] [--outputs sigmoid_cross_entropy,relu_squared_error,linear_squared_error] [--config...].

Trains the config's autoencoder (`layers`, the last being the code) with the `autoencoder.*` settings for every
hidden x code x output units, with mirrored decoders from a random init; then this toolkit's recipe (pretrained,
and from He). Every cell trains all seeds at once and is saved in DIR/cells/<name>.json, so a killed study resumes
at its first unfinished cell. Writes DIR/autoencoder_units.json and prints the table."""

import sys

from stackae.cli import listed, parse, run_main
from stackae.experiments.autoencoder_units import CODES, HIDDEN, OUTPUTS, autoencoder_units


def main():
    cfg, args = parse(sys.argv[1:], __doc__, lambda p: (
        p.add_argument("--hidden", default=",".join(HIDDEN), help="hidden units (encoders and mirrored decoders)"),
        p.add_argument("--codes", default=",".join(CODES), help="code-layer units"),
        p.add_argument("--outputs", default=",".join(OUTPUTS), help="output units and loss (stackae.core.losses)")),
        workdir_prefix="units-")
    report = autoencoder_units(cfg, args.workdir, hidden=listed(args.hidden), codes=listed(args.codes),
                               outputs=listed(args.outputs))
    print(report["table"])
    print(f"results: {args.workdir}/autoencoder_units.json, {args.workdir}/cells/")


if __name__ == "__main__":
    run_main(main)
