"""Fine-tuning: python scripts/finetune.py [--workdir DIR] [--init pretrained|random|METHOD]
[--objective classification|reconstruction] [--config...].

classification (default): a softmax head on the stack; METHOD is any method name of stackae.methods, e.g. lsuv,
data_dependent, he+batch_norm, dae+dropout; writes DIR/finetune-<init>/results.json.
reconstruction: the stack unrolled into a deep autoencoder (or the same network from a random init: glorot, he,
orthogonal, lecun, small_gaussian, lsuv), fine-tuned with the autoencoder.* settings; writes
DIR/autoencoder-<init>[-<optimizer> unless sgd]/results.json."""

import sys

from stackae.cli import parse, run_main
from stackae.workdir.autoencoder import reconstruction_run, run_name
from stackae.workdir.finetune import finetune_run


def add_flags(parser):
    parser.add_argument("--init", default="pretrained", help="pretrained (default), random, or a method name")
    parser.add_argument("--objective", default="classification", choices=("classification", "reconstruction"))


def main():
    cfg, args = parse(sys.argv[1:], __doc__, add_flags, config_from_run="pretrain/config.json")
    if args.objective == "reconstruction":
        r = reconstruction_run(cfg, args.workdir, init=args.init, overwrite=args.overwrite)
        ci = "" if r["test_squared_error_ci95"] is None else f" ± {r['test_squared_error_ci95']:.2f}"
        print(f"{r['init']} init, {r['optimizer']}: test squared error per example {r['test_squared_error']:.2f}{ci} "
              f"(valid {r['valid_squared_error']:.2f}, {len(r['seeds'])} seed(s))")
        print(f"results: {args.workdir}/{run_name(args.init, cfg)}/results.json")
        return
    r = finetune_run(cfg, args.workdir, init=args.init, overwrite=args.overwrite)
    print(f"{r['init']} init: test error {100 * r['test_error']:.2f}% (valid {100 * r['valid_error']:.2f}%, "
          f"best epoch {r['best_epoch']}, {len(r['seeds'])} seed(s))")
    print(f"results: {args.workdir}/finetune-{args.init}/results.json")


if __name__ == "__main__":
    run_main(main)
