"""Supervised fine-tuning: python scripts/finetune.py [--workdir DIR] [--init pretrained|random|METHOD] [--config...].

METHOD is any method name of stackae.methods, e.g. lsuv, data_dependent, he+batch_norm, dae+dropout."""

import sys

from stackae.cli import parse, run_main
from stackae.finetune import finetune_run


def main():
    cfg, args = parse(sys.argv[1:], __doc__,
                      lambda p: p.add_argument("--init", default="pretrained",
                                               help="pretrained (default), random, or a method name"),
                      config_from_run="pretrain/config.json")
    r = finetune_run(cfg, args.workdir, init=args.init, overwrite=args.overwrite)
    print(f"{r['init']} init: test error {100 * r['test_error']:.2f}% (valid {100 * r['valid_error']:.2f}%, "
          f"best epoch {r['best_epoch']}, {len(r['seeds'])} seed(s))")
    print(f"results: {args.workdir}/finetune-{args.init}/results.json")


if __name__ == "__main__":
    run_main(main)
