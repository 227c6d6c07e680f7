"""Datasets as float32 arrays in [0, 1], flattened: embedded digits, any TFDS image-classification name,
or TFDS prepared offline from manually provided files; deterministic splits and labelled subsets."""

import dataclasses
import pathlib

import numpy as np

from stackae.errors import ConfigError, DataError

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


def load_tfds(name: str, data_dir: str = "", manual_dir: str = "", download_retries: int = 10):
    """A TFDS image-classification dataset as ((train_x, train_y), (test_x, test_y), n_classes)."""
    import tensorflow_datasets as tfds

    kwargs = {"data_dir": data_dir or None}
    try:
        builder = tfds.builder(name, file_format="array_record", **kwargs)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise ConfigError(
            f"unknown dataset '{name}'; use 'digits' or a TFDS image-classification dataset such as mnist, "
            "fashion_mnist, kmnist or cifar10."
        ) from e
    if manual_dir and not pathlib.Path(manual_dir).is_dir():
        raise DataError(f"manual_dir {manual_dir} is not a folder; point it at the dataset's original files.")
    if not _is_prepared(builder):
        _prepare(builder, name, manual_dir, download_retries)
    image_key, label_key = _feature_keys(builder, name)
    n_classes = builder.info.features[label_key].num_classes
    splits = []
    for split in ("train", "test"):
        try:
            source = tfds.data_source(name, split=split, **kwargs)
        except (KeyError, ValueError) as e:
            raise DataError(f"dataset '{name}' has no '{split}' split; stackae needs train and test splits.") from e
        items = _read_all(source)
        images = np.stack([item[image_key] for item in items])
        labels = np.asarray([item[label_key] for item in items], dtype=np.int32)
        splits.append((_flatten_unit(images), labels))
    return splits[0], splits[1], n_classes


def _read_all(source):
    """Every record of a TFDS data source: one batched read, or per item where batching is unsupported."""
    try:
        return source.__getitems__(list(range(len(source))))
    except TypeError:  # e.g. the data sources of tfds.testing.mock_data
        return [source[i] for i in range(len(source))]


def _is_prepared(builder) -> bool:
    return pathlib.Path(builder.data_dir).joinpath("dataset_info.json").exists()


def _prepare(builder, name, manual_dir, download_retries):
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import downloader

    downloader.MAX_RETRIES = download_retries  # TFDS reads this when it opens its HTTP session
    config = tfds.download.DownloadConfig(manual_dir=manual_dir or None)
    try:
        builder.download_and_prepare(download_config=config)
    except ImportError as e:
        raise DataError(
            f"preparing TFDS dataset '{name}' needs TensorFlow; run `pip install -e .[prepare]` once, then retry."
        ) from e
    except Exception as e:  # network failures surface as many exception types
        hint = (f"check that {manual_dir} holds the original files of '{name}'" if manual_dir else
                "pass --config.manual_dir=DIR pointing at the dataset's original files to prepare it offline")
        raise DataError(f"could not download or prepare TFDS dataset '{name}' ({type(e).__name__}); {hint}.") from e


def _feature_keys(builder, name):
    import tensorflow_datasets as tfds

    features = builder.info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not images or not labels:
        raise ConfigError(f"dataset '{name}' is not an image-classification dataset (needs an image and a label).")
    return ("image" if "image" in images else images[0]), ("label" if "label" in labels else labels[0])


def check_arrays(name: str, x: np.ndarray, y: np.ndarray, n_classes: int, unit_range: bool):
    """Reject NaN/Inf inputs, labels outside [0, n_classes), and values outside [0, 1] where required."""
    if not np.all(np.isfinite(x)):
        raise DataError(f"dataset '{name}' has NaN or Inf inputs; clean or drop those examples.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"dataset '{name}' has labels outside [0, {n_classes}); relabel them as 0..{n_classes - 1}.")
    if unit_range and x.size and (x.min() < 0 or x.max() > 1):
        raise DataError(
            f"dataset '{name}' has inputs outside [0, 1] but layer 1 uses a sigmoid cross-entropy reconstruction; "
            "scale inputs to [0, 1] or set --config.pretrain.reconstruction=linear_squared_error."
        )


def load_dataset(cfg, unit_range: bool = True) -> Dataset:
    """The dataset named in `cfg`, validated, with a deterministic validation split carved from train."""
    if cfg.dataset == "digits":
        (train_x, train_y), (test_x, test_y), n_classes = load_digits(cfg.test_fraction)
    else:
        (train_x, train_y), (test_x, test_y), n_classes = load_tfds(
            cfg.dataset, cfg.data_dir, cfg.manual_dir, cfg.download_retries)
    train_x, train_y, valid_x, valid_y = carve(train_x, train_y, cfg.valid_fraction)
    for x, y in ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)):
        check_arrays(cfg.dataset, x, y, n_classes, unit_range)
    return Dataset(cfg.dataset, train_x, train_y, valid_x, valid_y, test_x, test_y, n_classes)


def labelled_subset(x, y, per_class: int, n_classes: int, seed: int):
    """A balanced, seeded subset of `per_class` examples of each class (all examples if per_class is 0)."""
    if per_class == 0:
        return x, y
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class:
            raise ConfigError(
                f"labels_per_class={per_class} but class {c} has only {len(idx)} training examples; lower it."
            )
        picks.append(rng.choice(idx, per_class, replace=False))
    idx = np.sort(np.concatenate(picks))
    return x[idx], y[idx]
