"""Preparing TFDS datasets offline from a manual_dir: each dataset reads only its own files, files are checked
against TFDS's official checksums before anything is prepared, no network is ever tried, and the prepared data
remembers (and is checked against) the checksums of what it was made from."""

import gzip
import json
import os
import pathlib
import re
import shutil
import socket
import time
import uuid

import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.core import utils as tfds_utils
from tensorflow_datasets.core.download import checksums
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from stackae import data
from stackae.data import load_tfds
from stackae.decoded import DECODED_FILE, load_decoded, save_decoded
from stackae.errors import DataError
from stackae.provenance import SOURCES_FILE, file_sha256

READ_ALL = data._read_all
MNIST_DIR = os.environ.get("STACKAE_MNIST_DIR", "")
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_SHA256 = {  # TFDS's registered checksums of the official MNIST files
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
}


def idx_gz(array) -> bytes:
    """An array as a gzipped IDX file (the MNIST format: zero magic, type 0x08 = uint8, ndim, big-endian dims)."""
    a = np.asarray(array, np.uint8)
    header = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return gzip.compress(header + a.tobytes(), mtime=0)


def write_mnist_format(folder, seed, n_train=30, n_test=10) -> dict:
    """Random digits-shaped data in MNIST's four file names under `folder`; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8)}
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, a in arrays.items():
        (folder / file_name).write_bytes(idx_gz(a))
    return arrays


class _TinyIdx(tfds_mnist.MNIST, skip_registration=True):
    """TFDS's own MNIST builder (same file names, same download_and_extract and parsing), with the example
    count read from the IDX header instead of MNIST's hard-coded 60000/10000 and checksums set by the test."""

    VERSION = tfds.core.Version("1.0.0")
    FILE_INFOS = {}  # {file name: UrlInfo}, the "official" checksums; set per test

    @tfds_utils.classproperty
    @classmethod
    def url_infos(cls):
        return {cls.URL + name: info for name, info in cls.FILE_INFOS.items()} or None

    def _generate_examples(self, num_examples, data_path, label_path):
        with open(label_path, "rb") as f:
            n = int.from_bytes(f.read(8)[4:], "big")
        yield from super()._generate_examples(n, data_path, label_path)


class StackaeTinyIdxA(_TinyIdx):
    URL = "https://stackae-test.invalid/a/"


class StackaeTinyIdxB(_TinyIdx):
    URL = "https://stackae-test.invalid/b/"


def use_official(monkeypatch, builder_cls, infos):
    """Register `infos` as the builder's official checksums, under URLs of this test alone (TFDS keeps every
    builder's checksums in one process-wide table, so a URL reused with other checksums would clash)."""
    monkeypatch.setattr(builder_cls, "URL", f"{builder_cls.URL}{uuid.uuid4().hex}/")
    monkeypatch.setattr(builder_cls, "FILE_INFOS", infos)


def official(folder) -> dict:
    """UrlInfos of the four files in `folder`, as TFDS's checksums file would register them."""
    return {name: checksums.UrlInfo(size=(pathlib.Path(folder) / name).stat().st_size,
                                    checksum=file_sha256(pathlib.Path(folder) / name), filename=name)
            for name in MNIST_FILES}


def images_as_rows(x) -> list:
    """Loaded float images back to sorted uint8 rows (TFDS shuffles the example order when preparing)."""
    return sorted(bytes(row) for row in np.round(np.asarray(x) * 255).astype(np.uint8))


def written_rows(arrays, file_name) -> list:
    a = arrays[file_name]
    return sorted(bytes(row) for row in a.reshape(len(a), -1))


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any attempt to open a network connection; returns the list of attempts."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def files_under(folder) -> list:
    return sorted(str(p.relative_to(folder)) for p in pathlib.Path(folder).rglob("*"))


def test_datasets_with_same_file_names_each_load_their_own_files(tmp_path, monkeypatch, no_network):
    """Issue 12: the second dataset prepared into one data_dir used to reuse the first one's extracted files."""
    a = write_mnist_format(tmp_path / "manual_a", seed=1)
    b = write_mnist_format(tmp_path / "manual_b", seed=2)
    use_official(monkeypatch, StackaeTinyIdxA, official(tmp_path / "manual_a"))
    use_official(monkeypatch, StackaeTinyIdxB, official(tmp_path / "manual_b"))
    data_dir, lines = str(tmp_path / "tfds"), []
    (a_x, _), _, _ = load_tfds("stackae_tiny_idx_a", data_dir, str(tmp_path / "manual_a"), log=lines.append)
    (b_x, b_y), (b_tx, _), _ = load_tfds("stackae_tiny_idx_b", data_dir, str(tmp_path / "manual_b"), log=lines.append)
    assert images_as_rows(a_x) == written_rows(a, "train-images-idx3-ubyte.gz")
    assert images_as_rows(b_x) == written_rows(b, "train-images-idx3-ubyte.gz")
    assert images_as_rows(b_tx) == written_rows(b, "t10k-images-idx3-ubyte.gz")
    written_labels = b["train-labels-idx1-ubyte.gz"]
    assert np.bincount(b_y, minlength=10).tolist() == np.bincount(written_labels, minlength=10).tolist()
    assert images_as_rows(a_x) != images_as_rows(b_x)
    assert len(lines) == 2 and lines[1].startswith(f"preparing stackae_tiny_idx_b from {tmp_path / 'manual_b'}")
    assert not no_network
    assert not any(".tmp" in p or "extracted" in p for p in files_under(data_dir))  # no shared extraction cache
    record = json.loads((tmp_path / "tfds" / "stackae_tiny_idx_b" / "1.0.0" / SOURCES_FILE).read_text())
    assert record["files"]["train-images-idx3-ubyte.gz"]["sha256"] == file_sha256(
        tmp_path / "manual_b" / "train-images-idx3-ubyte.gz")
    # loading again reuses the prepared data without a word
    (again_x, _), _, _ = load_tfds("stackae_tiny_idx_b", data_dir, str(tmp_path / "manual_b"), log=lines.append)
    assert len(lines) == 2 and images_as_rows(again_x) == images_as_rows(b_x)


def test_decoded_arrays_are_reused_until_the_prepared_data_changes(tmp_path, monkeypatch, no_network):
    """The first load saves the decoded arrays beside the prepared data; later loads read them instead of
    decoding every record, until a prepared file changes or the saved file is broken."""
    write_mnist_format(tmp_path / "manual", seed=3)
    use_official(monkeypatch, StackaeTinyIdxA, official(tmp_path / "manual"))
    args = ("stackae_tiny_idx_a", str(tmp_path / "tfds"), str(tmp_path / "manual"))
    prepared = tmp_path / "tfds" / "stackae_tiny_idx_a" / "1.0.0"
    first = load_tfds(*args)
    assert (prepared / DECODED_FILE).is_file()
    decodes = []
    monkeypatch.setattr(data, "_read_all", lambda source: decodes.append(source) or READ_ALL(source))

    def same(a, b):
        for (x, y), (x2, y2) in zip(a[:2], b[:2]):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)

    same(load_tfds(*args), first)
    assert decodes == []  # read from the saved arrays
    (prepared / DECODED_FILE).write_bytes(b"broken")
    same(load_tfds(*args), first)
    assert len(decodes) == 2 and load_decoded(prepared) is not None  # decoded again and saved whole
    record = next(prepared.glob("*train.array_record*"))
    os.utime(record, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert load_decoded(prepared) is None  # stale: the prepared data changed
    same(load_tfds(*args), first)
    assert len(decodes) == 4 and load_decoded(prepared) is not None
    save_decoded(tmp_path / "no-such-folder", {"x": np.zeros(3)})  # an unwritable place: no file, no error
    assert not (tmp_path / "no-such-folder").exists()


def test_prepared_data_whose_recorded_sources_differ_from_the_official_files_is_refused(tmp_path, monkeypatch):
    write_mnist_format(tmp_path / "manual", seed=3)
    use_official(monkeypatch, StackaeTinyIdxA, official(tmp_path / "manual"))
    data_dir = tmp_path / "tfds"
    load_tfds("stackae_tiny_idx_a", str(data_dir), str(tmp_path / "manual"), log=lambda _: None)
    prepared = data_dir / "stackae_tiny_idx_a" / "1.0.0"
    record_path = prepared / SOURCES_FILE
    record = json.loads(record_path.read_text())
    record["files"]["train-labels-idx1-ubyte.gz"]["sha256"] = "0" * 64  # as if made from another file
    record_path.write_text(json.dumps(record))
    with pytest.raises(DataError) as e:
        load_tfds("stackae_tiny_idx_a", str(data_dir), "", log=lambda _: None)
    message = str(e.value)
    assert "train-labels-idx1-ubyte.gz" in message and "0" * 64 in message
    assert f"delete {prepared}" in message and message.count(". ") == 0 and message.endswith(".")
    record_path.unlink()  # prepared by older code: no record, accepted
    (x, _), _, _ = load_tfds("stackae_tiny_idx_a", str(data_dir), "", log=lambda _: None)
    assert len(x) == 30


def test_mnist_files_that_are_not_the_official_ones_are_refused_before_preparing(tmp_path, no_network):
    manual = tmp_path / "manual"
    write_mnist_format(manual, seed=4)  # MNIST's names, other content
    data_dir = tmp_path / "tfds"
    with pytest.raises(DataError) as e:
        load_tfds("mnist", str(data_dir), str(manual), log=lambda _: None)
    message = str(e.value)
    bad = manual / "t10k-images-idx3-ubyte.gz"  # the first file checked (sorted order)
    assert message == (f"{bad} is not the official t10k-images-idx3-ubyte.gz of 'mnist' (expected sha256 "
                       f"{MNIST_SHA256['t10k-images-idx3-ubyte.gz']}, found {file_sha256(bad)}); "
                       "replace it with the original file.")
    assert files_under(data_dir) == [] and not no_network  # nothing prepared, extracted or downloaded


@pytest.mark.parametrize("damage", ["other labels under the same name", "truncated gz"])
def test_one_swapped_or_truncated_file_is_refused_naming_it(damage, tmp_path, monkeypatch, no_network):
    """Like Fashion-MNIST's labels under MNIST's file name, or a download cut short: refused before preparing."""
    manual = tmp_path / "manual"
    write_mnist_format(manual, seed=5)
    use_official(monkeypatch, StackaeTinyIdxA, official(manual))
    labels = manual / "train-labels-idx1-ubyte.gz"
    expected = file_sha256(labels)
    if damage == "truncated gz":
        labels.write_bytes(labels.read_bytes()[:-9])
    else:
        labels.write_bytes(idx_gz(np.random.default_rng(99).integers(0, 10, 30)))
    data_dir = tmp_path / "tfds"
    with pytest.raises(DataError) as e:
        load_tfds("stackae_tiny_idx_a", str(data_dir), str(manual), log=lambda _: None)
    assert str(e.value) == (f"{labels} is not the official train-labels-idx1-ubyte.gz of 'stackae_tiny_idx_a' "
                            f"(expected sha256 {expected}, found {file_sha256(labels)}); "
                            "replace it with the original file.")
    assert files_under(data_dir) == [] and not no_network


@pytest.mark.skipif(not MNIST_DIR, reason="set STACKAE_MNIST_DIR to the folder of the MNIST IDX .gz files")
def test_real_mnist_with_a_truncated_file_is_refused(tmp_path, no_network):
    manual = tmp_path / "manual"
    manual.mkdir()
    for file_name in MNIST_FILES:
        shutil.copyfile(pathlib.Path(MNIST_DIR) / file_name, manual / file_name)
    images = manual / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[: 5 << 20])
    with pytest.raises(DataError) as e:
        load_tfds("mnist", str(tmp_path / "tfds"), str(manual), log=lambda _: None)
    assert str(e.value) == (f"{images} is not the official train-images-idx3-ubyte.gz of 'mnist' (expected sha256 "
                            f"{MNIST_SHA256['train-images-idx3-ubyte.gz']}, found {file_sha256(images)}); "
                            "replace it with the original file.")
    assert files_under(tmp_path / "tfds") == [] and not no_network


@pytest.mark.parametrize("present", [(), ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz")])
def test_mnist_empty_or_incomplete_manual_dir_fails_fast_naming_the_files(present, tmp_path, no_network):
    manual = tmp_path / "manual"
    manual.mkdir()
    for file_name in present:
        (manual / file_name).write_bytes(b"")
    data_dir = tmp_path / "tfds"
    start = time.monotonic()
    with pytest.raises(DataError) as e:
        load_tfds("mnist", str(data_dir), str(manual), log=lambda _: None)  # default download_retries=10
    assert time.monotonic() - start < 10
    message = str(e.value)
    assert all(file_name in message for file_name in MNIST_FILES)
    assert message.startswith(f"manual_dir {manual} lacks t10k-images-idx3-ubyte.gz, ")
    assert message.count(". ") == 0 and message.endswith(".")
    assert files_under(data_dir) == [] and not no_network


def test_a_download_needed_beyond_the_manual_dir_is_refused_without_network(tmp_path, monkeypatch, no_network):
    """A builder whose file names TFDS does not know: the manual_dir check cannot name them, so the download
    the builder then asks for is refused at once, naming the file, and leaves no `.tmp` folders."""
    write_mnist_format(tmp_path / "manual", seed=6)
    use_official(monkeypatch, StackaeTinyIdxA, {})
    data_dir = tmp_path / "tfds"
    start = time.monotonic()
    with pytest.raises(DataError, match=r"needs (train|t10k)-(images|labels)-idx[13]-ubyte\.gz .*not in manual_dir"):
        load_tfds("stackae_tiny_idx_a", str(data_dir), str(tmp_path / "manual"), log=lambda _: None)
    assert time.monotonic() - start < 10 and not no_network
    assert not any(".tmp" in p or "incomplete" in p for p in files_under(data_dir))
    assert not (data_dir / "stackae_tiny_idx_a" / "1.0.0" / "dataset_info.json").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=re.escape(f"manual_dir {empty} is empty;")):
        load_tfds("stackae_tiny_idx_a", str(data_dir), str(empty), log=lambda _: None)


def test_preparing_is_quiet_but_for_one_line(tmp_path, monkeypatch, capfd):
    write_mnist_format(tmp_path / "manual", seed=7)
    use_official(monkeypatch, StackaeTinyIdxA, official(tmp_path / "manual"))
    capfd.readouterr()
    load_tfds("stackae_tiny_idx_a", str(tmp_path / "tfds"), str(tmp_path / "manual"))  # log defaults to print
    out, err = capfd.readouterr()
    prepared = tmp_path / "tfds" / "stackae_tiny_idx_a" / "1.0.0"
    assert out.splitlines() == [f"preparing stackae_tiny_idx_a from {tmp_path / 'manual'} into {prepared} (once)"]
    assert "\r" not in err and "OpenCV" not in err and len(err) < 300, err
