"""Methods x label budgets x seeds, paired and tuned alike: python scripts/sweep.py [--config=PATH] [--workdir DIR]
[--shard I/N] [--config.sweep.<key>=...], or python scripts/sweep.py --report DIR to merge what is there.

With no arguments: every method, two label budgets and three seeds on the embedded digits data (a few minutes on
two cores). Writes DIR/sweep.csv, DIR/sweep.md and DIR/sweep.png; a killed sweep resumes at its first
unfinished cell; --shard I/N runs every N-th cell (0 <= I < N) so N machines can share one DIR."""

import sys

from stackae.cli import parse, run_main
from stackae.experiments.sweep_workdir import run_sweep, write_report


def main():
    cfg, args = parse(sys.argv[1:], __doc__, lambda p: (
        p.add_argument("--shard", default=None, help="I/N: run every N-th cell starting at I (0-based)"),
        p.add_argument("--report", default=None, metavar="DIR", help="only merge the finished cells in DIR")),
        workdir_prefix="sweep-")
    if args.report:
        rows = write_report(args.report)
        print(f"{len(rows)} rows merged: {args.report}/sweep.md, sweep.csv, sweep.png")
        return
    run_sweep(cfg, args.workdir, shard_spec=args.shard)
    print(open(f"{args.workdir}/sweep.md").read())
    print(f"results: {args.workdir}/sweep.md, {args.workdir}/sweep.csv, {args.workdir}/sweep.png")


if __name__ == "__main__":
    run_main(main)
