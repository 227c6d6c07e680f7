"""Codes of a trained run for one split, as .npy: python scripts/encode.py --workdir DIR [--init stack|pretrained|
random|METHOD] [--objective classification|reconstruction] [--split test|valid|train] [--member K] --out FILE.npy

--init stack (default) encodes with the pretrained stack (top DAE layer); any other value with the top hidden
layer of the classifier fine-tuned by `scripts/finetune.py --init INIT`, or, with --objective reconstruction,
with the code layer of the deep autoencoder in DIR/autoencoder-INIT (INIT e.g. pretrained, random, random-adam;
its reconstructions go to FILE-reconstructions.npy). FILE.npy holds one row per example of the split, in the
dataset's order; FILE-labels.npy its labels."""

import argparse
import pathlib
import sys

import numpy as np

from stackae.cli import run_main
from stackae.config import config_from_json
from stackae.data import load_dataset
from stackae.errors import ConfigError
from stackae.workdir.autoencoder import load_autoencoder
from stackae.workdir.finetune import load_classifier
from stackae.workdir.pretrain import load_pretrained


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--init", default="stack")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--objective", default="classification", choices=("classification", "reconstruction"))
    parser.add_argument("--member", type=int, default=0, help="which seed of the run (0-based)")
    parser.add_argument("--out", required=True, help="output .npy file")
    args = parser.parse_args(sys.argv[1:])
    workdir = pathlib.Path(args.workdir)
    deep = args.objective == "reconstruction" and args.init != "stack"
    if args.init == "stack":
        run_dir, model = workdir / "pretrain", load_pretrained(workdir)
    elif deep:
        run_dir, model = workdir / f"autoencoder-{args.init}", load_autoencoder(workdir, args.init)
    else:
        run_dir, model = workdir / f"finetune-{args.init}", load_classifier(workdir, args.init)
    n_members = len(model.seeds) if args.init == "stack" else len(model.rows)
    if not 0 <= args.member < n_members:
        raise ConfigError(f"--member {args.member} is not one of the run's {n_members} seeds (0..{n_members - 1}).")
    data = load_dataset(config_from_json((run_dir / "config.json").read_text()), unit_range=False)
    x, y = getattr(data, f"{args.split}_x"), getattr(data, f"{args.split}_y")
    codes = np.asarray(model.encode(x, args.member))
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, codes)
    np.save(out.with_name(out.stem + "-labels.npy"), y)
    if deep:
        np.save(out.with_name(out.stem + "-reconstructions.npy"), model.reconstruct(x, args.member))
    print(f"{codes.shape[0]} codes of {codes.shape[1]} units ({data.name} {args.split}) written to {out}; labels in "
          f"{out.with_name(out.stem + '-labels.npy')}")


if __name__ == "__main__":
    run_main(main)
