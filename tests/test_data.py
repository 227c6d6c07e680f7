import dataclasses
import gzip
import os
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from conftest import tiny_config
from stackae.data import carve, check_arrays, labelled_subset, load_dataset, load_tfds
from stackae.errors import DataError
from stackae.provenance import data_fingerprint

MNIST_DIR = os.environ.get("STACKAE_MNIST_DIR", "")


def test_digits_is_flat_unit_range_with_deterministic_disjoint_splits():
    cfg = tiny_config()
    a, b = load_dataset(cfg), load_dataset(cfg)
    assert a.train_x.dtype == np.float32 and a.train_x.shape[1] == 64 and a.n_classes == 10
    assert 0 <= a.train_x.min() and a.train_x.max() <= 1
    np.testing.assert_array_equal(a.valid_x, b.valid_x)
    n = len(a.train_x) + len(a.valid_x) + len(a.test_x)
    assert n == 1797 and abs(len(a.test_x) - 0.2 * 1797) <= 1


def test_carve_is_a_partition():
    x = np.arange(100)[:, None]
    rest_x, _, part_x, _ = carve(x, np.arange(100), 0.25)
    assert len(part_x) == 25 and sorted(np.concatenate([rest_x, part_x])[:, 0]) == list(range(100))


def test_labelled_subset_is_balanced_and_seeded():
    cfg = tiny_config()
    d = load_dataset(cfg)
    x1, y1 = labelled_subset(d.train_x, d.train_y, 7, 10, seed=1)
    x2, y2 = labelled_subset(d.train_x, d.train_y, 7, 10, seed=1)
    x3, _ = labelled_subset(d.train_x, d.train_y, 7, 10, seed=2)
    assert np.bincount(y1).tolist() == [7] * 10
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(x1, x3)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist", "cifar10"])
def test_tfds_path_on_mock_data(name, tmp_path):
    with tfds.testing.mock_data(num_examples=40):
        (train_x, train_y), (test_x, test_y), n_classes = load_tfds(name, data_dir=str(tmp_path))
    assert train_x.dtype == np.float32 and train_x.ndim == 2 and train_x.shape[0] == 40
    assert train_x.shape[1] == (3072 if name == "cifar10" else 784)
    assert 0 <= train_x.min() and train_x.max() <= 1 and n_classes == 10
    assert train_y.dtype == np.int32 and len(test_y) == 40


@pytest.mark.slow
@pytest.mark.skipif(not MNIST_DIR, reason="set STACKAE_MNIST_DIR to the folder of the MNIST IDX .gz files")
def test_real_mnist_prepared_offline_from_manual_dir(tmp_path_factory, capfd):
    data_dir = os.environ.get("STACKAE_TFDS_DIR") or str(tmp_path_factory.mktemp("tfds"))
    cfg = tiny_config()
    cfg.dataset, cfg.data_dir, cfg.manual_dir, cfg.valid_fraction = "mnist", data_dir, MNIST_DIR, 1 / 6
    lines = []
    d = load_dataset(cfg, log=lines.append)
    assert (len(d.train_x), len(d.valid_x), len(d.test_x)) == (50000, 10000, 10000)
    assert d.train_x.shape[1] == 784 and d.train_x.max() == 1.0 and d.train_x.min() == 0.0
    assert np.bincount(d.test_y).min() > 800  # all ten classes, roughly balanced
    # the labels are MNIST's own (issue 12: a shared extraction cache once served Fashion-MNIST's under them)
    train_counts = np.bincount(np.concatenate([d.train_y, d.valid_y]), minlength=10)
    assert train_counts.tolist() == idx_label_counts(pathlib.Path(MNIST_DIR) / "train-labels-idx1-ubyte.gz")
    assert np.bincount(d.test_y, minlength=10).tolist() == idx_label_counts(
        pathlib.Path(MNIST_DIR) / "t10k-labels-idx1-ubyte.gz")
    assert d.version == "3.0.1" and len(lines) <= 1
    printed = "".join(capfd.readouterr())  # TensorFlow's C++ start-up notices go to the process's stderr
    assert "oneDNN" not in printed and "absl::InitializeLog" not in printed, printed[-2000:]
    assert data_fingerprint(d)["sizes"] == {"train": 50000, "valid": 10000, "test": 10000}


def idx_label_counts(path) -> list:
    """Class counts of an IDX label file (8-byte header, then one uint8 label per example)."""
    with gzip.open(path, "rb") as f:
        labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    return np.bincount(labels, minlength=10).tolist()


def test_data_fingerprint_names_the_data_and_changes_with_any_label():
    cfg = tiny_config()
    a, b = load_dataset(cfg), load_dataset(cfg)
    fa = data_fingerprint(a)
    assert fa == data_fingerprint(b)
    assert fa["dataset"] == "digits" and fa["version"] == "" and fa["n_classes"] == 10 and fa["n_features"] == 64
    assert fa["sizes"] == {"train": len(a.train_x), "valid": len(a.valid_x), "test": len(a.test_x)}
    assert sum(fa["sizes"].values()) == 1797 and len(fa["sha256"]) == 16
    relabelled = a.valid_y.copy()
    relabelled[0] = (relabelled[0] + 1) % 10
    assert data_fingerprint(dataclasses.replace(a, valid_y=relabelled))["sha256"] != fa["sha256"]
    nudged = a.test_x.copy()
    nudged[3, 5] += 1 / 16
    assert data_fingerprint(dataclasses.replace(a, test_x=nudged))["sha256"] != fa["sha256"]


def test_broken_data_is_rejected_with_the_fix_named():
    x = np.zeros((4, 3), np.float32)
    y = np.zeros(4, np.int32)
    with pytest.raises(DataError, match="NaN or Inf"):
        check_arrays("d", np.full((4, 3), np.nan, np.float32), y, 10, True)
    with pytest.raises(DataError, match=r"labels outside \[0, 10\)"):
        check_arrays("d", x, np.array([0, 1, 10, 2]), 10, True)
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        check_arrays("d", x + 2, y, 10, True)
    check_arrays("d", x + 2, y, 10, False)  # fine when no sigmoid reconstruction needs [0, 1]
