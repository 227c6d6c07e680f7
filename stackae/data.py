"""Datasets as float32 arrays in [0, 1], flattened: embedded digits, the user's own files (see
`stackae.files`), any TFDS image-classification name, or TFDS prepared offline from manually provided files (checked against TFDS's official checksums first, never
supplemented from the network, each dataset extracted apart from every other); deterministic splits and
labelled subsets."""

import contextlib
import dataclasses
import io
import os
import pathlib
import shutil
import uuid

import numpy as np

from stackae.decoded import load_decoded, save_decoded
from stackae.errors import ConfigError, DataError, StackaeError
from stackae.files import Examples, is_data_path, read_splits
from stackae.provenance import check_sources, file_sha256, official_files, write_sources

SPLIT_SEED = 20100101  # fixed: the validation/test carve never depends on the model seed


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train (the unlabelled pretraining pool, with labels), validation and test arrays."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    valid_x: np.ndarray
    valid_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    n_classes: int
    version: str = ""  # the TFDS dataset version it was prepared as; empty for embedded data and files
    sources: dict = dataclasses.field(default_factory=dict)  # {file: sha256} of the user's files read, if any

    @property
    def n_features(self) -> int:
        return self.train_x.shape[1]


def _flatten_unit(images) -> np.ndarray:
    x = np.asarray(images)
    x = x.reshape(x.shape[0], -1).astype(np.float32)
    return x / 255.0 if np.asarray(images).dtype == np.uint8 else x


def carve(x, y, fraction: float, seed: int = SPLIT_SEED):
    """Split off a deterministic random `fraction` of (x, y): returns (rest_x, rest_y, part_x, part_y)."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_part = int(round(fraction * len(x)))
    part, rest = np.sort(order[:n_part]), np.sort(order[n_part:])
    return x[rest], y[rest], x[part], y[part]


def load_digits(test_fraction: float):
    """scikit-learn's embedded 8x8 digits, pixel values 0..16 scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int32)
    train_x, train_y, test_x, test_y = carve(x, y, test_fraction)
    return (train_x, train_y), (test_x, test_y), 10


def load_tfds(name: str, data_dir: str = "", manual_dir: str = "", download_retries: int = 10, log=print):
    """A TFDS image-classification dataset as ((train_x, train_y), (test_x, test_y), n_classes)."""
    train, test, n_classes, _ = _load_tfds(name, data_dir, manual_dir, download_retries, log)
    return train, test, n_classes


def _load_tfds(name, data_dir, manual_dir, download_retries, log):
    """load_tfds plus the dataset's TFDS version; prepares it once (verifying a manual_dir first)."""
    # Read when TensorFlow is first imported (tfds may do it). TensorFlow only decodes the source files here, so
    # its oneDNN kernels (whose start-up notice no log level silences) are not wanted either.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow_datasets as tfds

    kwargs = {"data_dir": data_dir or None}
    with _quiet_tfds():
        try:
            builder = tfds.builder(name, file_format="array_record", **kwargs)
        except tfds.core.registered.DatasetNotFoundError as e:
            raise ConfigError(
                f"unknown dataset '{name}'; use 'digits', a TFDS image-classification dataset such as mnist, "
                "fashion_mnist, kmnist or cifar10, or a path to your files (.npz, .npy, .csv, .amat, or a folder "
                f"of class subfolders written with a '/', e.g. ./{name})."
            ) from e
        if manual_dir and not pathlib.Path(manual_dir).is_dir():
            raise DataError(f"manual_dir {manual_dir} is not a folder; point it at the dataset's original files.")
        if _is_prepared(builder):
            check_sources(builder, name)
        else:
            verified = check_manual_dir(builder, name, manual_dir) if manual_dir else {}
            _prepare(builder, name, manual_dir, download_retries, verified, log)
        image_key, label_key = _feature_keys(builder, name)
        n_classes = builder.info.features[label_key].num_classes
        arrays = load_decoded(builder.data_dir)
        if arrays is None:
            arrays = {}
            for split in ("train", "test"):
                try:
                    source = tfds.data_source(name, split=split, **kwargs)
                except (KeyError, ValueError) as e:
                    raise DataError(f"dataset '{name}' has no '{split}' split; stackae needs train and test "
                                    "splits.") from e
                items = _read_all(source)
                arrays[f"{split}_images"] = np.stack([item[image_key] for item in items])
                arrays[f"{split}_labels"] = np.asarray([item[label_key] for item in items], dtype=np.int32)
            save_decoded(builder.data_dir, arrays)
    splits = [(_flatten_unit(arrays[f"{s}_images"]), arrays[f"{s}_labels"]) for s in ("train", "test")]
    return splits[0], splits[1], n_classes, str(builder.version)


@contextlib.contextmanager
def _quiet_tfds():
    """No TFDS progress bars, absl warnings (e.g. 'OpenCV is not installed') or TensorFlow C++ start-up logs."""
    import tensorflow_datasets as tfds
    from absl import logging as absl_logging

    tfds.disable_progress_bar()
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def _read_all(source):
    """Every record of a TFDS data source: one batched read, or per item where batching is unsupported."""
    try:
        return source.__getitems__(list(range(len(source))))
    except TypeError:  # e.g. the data sources of tfds.testing.mock_data
        return [source[i] for i in range(len(source))]


def _is_prepared(builder) -> bool:
    return pathlib.Path(builder.data_dir).joinpath("dataset_info.json").exists()


def check_manual_dir(builder, name: str, manual_dir: str) -> dict:
    """Check, before preparing, that `manual_dir` holds every original file TFDS registers for `name` and that
    each has the official sha256; returns {file name: {"sha256", "size"}} of the verified files.

    The expected names come from the builder's TFDS checksums file. Where TFDS records none (the builder reads
    its manual_dir itself), only an empty folder is refused here, and a download the builder then asks for is
    refused while preparing (see `_prepare`). A builder with several configs may need only some of its
    registered files, so there a missing file is refused only when none is present."""
    folder = pathlib.Path(manual_dir)
    expected = official_files(builder)
    if not expected:
        if not any(folder.iterdir()):
            raise DataError(f"manual_dir {manual_dir} is empty; put the original files of '{name}' there "
                            "(TFDS registers no file names for it; see its catalogue page).")
        return {}
    present = {f: info for f, info in expected.items() if (folder / f).is_file()}
    missing = sorted(set(expected) - set(present))
    if missing and (not present or not builder.BUILDER_CONFIGS):
        raise DataError(f"manual_dir {manual_dir} lacks {', '.join(missing)}; '{name}' is prepared offline from "
                        f"its original files {', '.join(sorted(expected))}, so put them there under these names.")
    verified = {}
    for file_name, info in sorted(present.items()):
        found = file_sha256(folder / file_name)
        if found != info.checksum:
            raise DataError(f"{folder / file_name} is not the official {file_name} of '{name}' (expected sha256 "
                            f"{info.checksum}, found {found}); replace it with the original file.")
        verified[file_name] = {"sha256": found, "size": (folder / file_name).stat().st_size}
    return verified


def _prepare(builder, name, manual_dir, download_retries, verified, log):
    """Prepare `builder` once, quietly. Archives are extracted into a fresh folder under
    <data_dir>/downloads/<name>/<version>/, removed afterwards: TFDS's shared <data_dir>/downloads/extracted/ is
    keyed by file name alone, so mnist prepared after fashion_mnist used to read Fashion's extracted files.
    Downloads stay in TFDS's cache (<data_dir>/downloads/<name>/, named by URL and checksum). With a manual_dir
    nothing is downloaded. The checksums of the files read are recorded beside the prepared data."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import downloader

    downloader.MAX_RETRIES = download_retries  # TFDS reads this when it opens its HTTP session
    downloads = pathlib.Path(builder.data_dir_root) / "downloads"  # TFDS's default download_dir
    extract_dir = downloads / builder.info.full_name / f"extracted.{uuid.uuid4().hex}"  # made by TFDS if it prepares
    config = tfds.download.DownloadConfig(manual_dir=manual_dir or None, extract_dir=str(extract_dir),
                                          try_download_gcs=False)
    managers = []
    watched = _watch_downloads(builder, name, manual_dir, managers)
    log(f"preparing {name} from {manual_dir or 'its download URLs'} into {builder.data_dir} (once)")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # TFDS prints its own banners
            builder.download_and_prepare(download_config=config)
    except StackaeError:
        raise
    except ImportError as e:
        raise DataError(
            f"preparing TFDS dataset '{name}' needs TensorFlow; run `.venv/bin/python -m pip install -e '.[prepare]'` once, then retry."
        ) from e
    except Exception as e:  # network failures surface as many exception types
        hint = (f"check that {manual_dir} holds the original files of '{name}'" if manual_dir else
                "pass --config.manual_dir=DIR pointing at the dataset's original files to prepare it offline")
        raise DataError(f"could not download or prepare TFDS dataset '{name}' ({type(e).__name__}); {hint}.") from e
    finally:
        shutil.rmtree(extract_dir, ignore_errors=True)
        _remove_empty(extract_dir.parent, up_to=downloads)
    if managers or (not watched and verified):  # no manager: nothing was read (e.g. tfds.testing.mock_data)
        write_sources(builder.data_dir, builder.info.full_name, manual_dir, _used_files(managers, verified))


def _remove_empty(folder: pathlib.Path, up_to: pathlib.Path):
    """Remove `folder` and its parents up to and including `up_to` while they are empty."""
    while folder == up_to or up_to in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _watch_downloads(builder, name, manual_dir, managers):
    """Keep the builder's download manager (to record what it read) and, with a manual_dir, make any download
    it would start fail at once with the missing file named, before a temporary download folder is made;
    returns False where this TFDS version offers no hook for that."""
    make = getattr(builder, "_make_download_manager", None)
    if make is None:  # another TFDS version: the manual_dir check above is then the only guard
        return False

    def refuse(resource):
        file_name = resource.url.rstrip("/").rsplit("/", 1)[-1]
        raise DataError(f"'{name}' needs {file_name} ({resource.url}), which is not in manual_dir {manual_dir}; "
                        "put it there (stackae never downloads when a manual_dir is given).")

    def make_and_watch(*args, **kwargs):
        manager = make(*args, **kwargs)
        if manual_dir:
            manager._download = refuse
        managers.append(manager)
        return manager

    builder._make_download_manager = make_and_watch
    return True


def _used_files(managers, verified) -> dict:
    """{file name: {"sha256", "size", "url"}} of what the download managers read, else the verified files."""
    files = {}
    for manager in managers:
        for url, info in getattr(manager, "_recorded_url_infos", {}).items():
            file_name = getattr(info, "filename", None) or url.rstrip("/").rsplit("/", 1)[-1]
            files[file_name] = {"sha256": info.checksum, "size": int(info.size), "url": url}
    return files or verified


def _feature_keys(builder, name):
    import tensorflow_datasets as tfds

    features = builder.info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not images or not labels:
        raise ConfigError(f"dataset '{name}' is not an image-classification dataset (needs an image and a label).")
    return ("image" if "image" in images else images[0]), ("label" if "label" in labels else labels[0])


def check_arrays(name: str, x: np.ndarray, y: np.ndarray, n_classes: int, unit_range: bool, split: str = ""):
    """Reject NaN/Inf inputs, labels outside [0, n_classes), and values outside [0, 1] where required."""
    what = f"dataset '{name}'" + (f" ({split} split)" if split else "")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{what} has NaN or Inf inputs; clean or drop those examples.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{what} has labels outside [0, {n_classes}); relabel them as 0..{n_classes - 1}.")
    if unit_range:
        check_unit_range(what, x)


def check_unit_range(what: str, x: np.ndarray):
    """Reject inputs outside [0, 1], which a sigmoid cross-entropy reconstruction cannot fit."""
    if x.size and (x.min() < 0 or x.max() > 1):
        raise DataError(
            f"{what} has inputs from {x.min():g} to {x.max():g}, outside [0, 1], but layer 1 uses a sigmoid "
            "cross-entropy reconstruction; scale inputs to [0, 1] (for 0-255 pixel values in a file, "
            "--config.input_scale=255) or set --config.pretrain.reconstruction=linear_squared_error."
        )


def load_dataset(cfg, unit_range: bool = True, log=print) -> Dataset:
    """The dataset named in `cfg` (digits, a TFDS name, or the user's files), validated, with a deterministic
    validation split carved from train unless a file gives one; `log` gets the one line said when a TFDS
    dataset is prepared."""
    if is_data_path(cfg.dataset):
        files = read_splits(cfg.dataset, cfg.valid_data, cfg.test_data, label_column=cfg.label_column,
                            image_size=tuple(cfg.image_size), input_scale=cfg.input_scale)
        for examples in filter(None, (files.train, files.valid, files.test)):
            if unit_range:  # per file, to name it; the splits carved from these need no second check
                check_unit_range(examples.source, examples.x)
        test, valid = files.test or Examples(None, None, ""), files.valid or Examples(None, None, "")
        return dataset_from_arrays(cfg.dataset, files.train.x, files.train.y, test.x, test.y, valid_x=valid.x,
                                   valid_y=valid.y, valid_fraction=cfg.valid_fraction,
                                   test_fraction=cfg.test_fraction, unit_range=False, sources=files.sources)
    version = ""
    if cfg.dataset == "digits":
        (train_x, train_y), (test_x, test_y), n_classes = load_digits(cfg.test_fraction)
    else:
        (train_x, train_y), (test_x, test_y), n_classes, version = _load_tfds(
            cfg.dataset, cfg.data_dir, cfg.manual_dir, cfg.download_retries, log)
    train_x, train_y, valid_x, valid_y = carve(train_x, train_y, cfg.valid_fraction)
    for x, y in ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)):
        check_arrays(cfg.dataset, x, y, n_classes, unit_range)
    return Dataset(cfg.dataset, train_x, train_y, valid_x, valid_y, test_x, test_y, n_classes, version)


def dataset_from_arrays(name: str, x, y, test_x=None, test_y=None, *, valid_x=None, valid_y=None,
                        valid_fraction: float = 0.1, test_fraction: float = 0.2, n_classes: int | None = None,
                        unit_range: bool = True, sources: dict | None = None) -> Dataset:
    """A Dataset from the user's own arrays (images of any shape are flattened; uint8 scaled to [0, 1]); the
    validation and test splits not given are carved deterministically from (x, y), the test split first.
    `sources` ({file: sha256}) names the files the arrays were read from, for the data fingerprint."""
    x, y = _flatten_unit(x), np.asarray(y).astype(np.int32)
    if len(x) != len(y):
        raise DataError(f"dataset '{name}' has {len(x)} inputs but {len(y)} labels; pass one label per input.")
    if test_x is None:
        x, y, test_x, test_y = carve(x, y, test_fraction)
    else:
        test_x, test_y = _flatten_unit(test_x), np.asarray(test_y).astype(np.int32)
    if valid_x is None:
        train_x, train_y, valid_x, valid_y = carve(x, y, valid_fraction)
    else:
        train_x, train_y = x, y
        valid_x, valid_y = _flatten_unit(valid_x), np.asarray(valid_y).astype(np.int32)
    n_classes = int(n_classes or max(train_y.max(), valid_y.max(initial=0), test_y.max(initial=0)) + 1)
    for split, (a, b) in {"training": (train_x, train_y), "validation": (valid_x, valid_y),
                          "test": (test_x, test_y)}.items():
        check_arrays(name, a, b, n_classes, unit_range, split)
    missing = sorted(set(range(n_classes)) - set(np.unique(train_y).tolist()))
    if missing:
        raise DataError(f"dataset '{name}' has no training example of class {missing[0]} (its labels run from 0 to "
                        f"{n_classes - 1}); give every class training examples, or number the classes 0, 1, 2, "
                        "... without gaps.")
    return Dataset(name, train_x, train_y, valid_x, valid_y, test_x, test_y, n_classes, sources=dict(sources or {}))


def labelled_subset(x, y, per_class: int, n_classes: int, seed: int, what: str = "training"):
    """A balanced, seeded subset of `per_class` examples of each class (all examples if per_class is 0)."""
    if per_class == 0:
        return x, y
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class:
            raise ConfigError(
                f"{per_class} labelled examples per class were asked for but class {c} has only {len(idx)} {what} "
                "examples; lower labels_per_class (or the sweep's budget / valid_per_class)."
            )
        picks.append(rng.choice(idx, per_class, replace=False))
    idx = np.sort(np.concatenate(picks))
    return x[idx], y[idx]
