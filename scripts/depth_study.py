"""Depth x activation x init, and remedies on the deepest network (Erhan et al. 2010; Glorot & Bengio 2010):
python scripts/depth_study.py [--config=stackae/configs/mnist_depth.py] [--workdir DIR] [--depths 2,4,6,8]
[--activations sigmoid,relu] [--remedies small_gaussian+batch_norm,...] [--config...].

Networks take the first D entries of `layers`. Each activation's stack is pretrained once, as deep as the deepest
network (DIR/<activation>/pretrain); every cell fine-tunes all seeds at once and is saved in DIR/cells/<name>.json,
so a killed study resumes at its first unfinished cell. Writes DIR/depth_study.json and prints the table."""

import sys

from stackae.cli import listed, parse, run_main
from stackae.errors import ConfigError
from stackae.experiments.depth_study import ACTIVATIONS, DEPTHS, REMEDIES, depth_study


def main():
    cfg, args = parse(sys.argv[1:], __doc__, lambda p: (
        p.add_argument("--depths", default=",".join(map(str, DEPTHS)), help="hidden-layer counts (default 2,4,6,8)"),
        p.add_argument("--activations", default=",".join(ACTIVATIONS), help="hidden activations"),
        p.add_argument("--remedies", default=",".join(REMEDIES),
                       help="methods tried on the deepest network of the first activation ('' for none)")),
        workdir_prefix="depth-")
    depths = listed(args.depths, int)
    if not depths or min(depths) < 1:
        raise ConfigError(f"--depths {args.depths} must list positive hidden-layer counts, e.g. 2,4,6,8.")
    report = depth_study(cfg, args.workdir, depths=depths, activations=listed(args.activations),
                         remedies=listed(args.remedies))
    print(report["table"])
    print(f"results: {args.workdir}/depth_study.json, {args.workdir}/cells/")


if __name__ == "__main__":
    run_main(main)
