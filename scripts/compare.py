"""Pretrained vs random init of the same network: python scripts/compare.py [--workdir DIR] [--config...]."""

import sys

from stackae.cli import parse, run_main
from stackae.experiments.compare import compare, comparison_file, format_table


def main():
    cfg, args = parse(sys.argv[1:], __doc__)
    results = compare(cfg, args.workdir, overwrite=args.overwrite)
    print(format_table(results))
    print(f"results: {args.workdir}/{comparison_file(cfg)}, {args.workdir}/finetune-*/results.json")


if __name__ == "__main__":
    run_main(main)
