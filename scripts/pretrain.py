"""Greedy layer-wise pretraining (DAE, CAE or RBM layers): python scripts/pretrain.py [--workdir DIR] [--config=PATH] [--config.k=v]."""

import sys

from stackae.cli import parse, run_main
from stackae.workdir.pretrain import pretrain


def main():
    cfg, args = parse(sys.argv[1:], __doc__)
    summary = pretrain(cfg, args.workdir, overwrite=args.overwrite)
    for layer in summary["layers"]:
        print(f"layer {layer['layer']}: {layer.get('layer_kind', 'dae')} {layer['n_in']}->{layer['n_hidden']} "
              f"{layer['activation']}  "
              f"valid reconstruction {layer['valid_reconstruction']:.4f}  zero activations {layer['sparsity']:.3f}")
    print(f"summary: {args.workdir}/pretrain/summary.json")


if __name__ == "__main__":
    run_main(main)
