"""Supervised fine-tuning: python scripts/finetune.py [--workdir DIR] [--init pretrained|random] [--config...]."""

import sys

from stackae.cli import parse, run_main
from stackae.finetune import INITS, finetune


def main():
    cfg, args = parse(sys.argv[1:], __doc__,
                      lambda p: p.add_argument("--init", default="pretrained", choices=INITS),
                      config_from_run="pretrain/config.json")
    r = finetune(cfg, args.workdir, init=args.init, overwrite=args.overwrite)
    print(f"{r['init']} init: test error {100 * r['test_error']:.2f}% (valid {100 * r['valid_error']:.2f}%, "
          f"best epoch {r['best_epoch']}, {len(r['seeds'])} seed(s))")
    print(f"results: {args.workdir}/finetune-{args.init}/results.json")


if __name__ == "__main__":
    run_main(main)
