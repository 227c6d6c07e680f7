"""The user's own data files as arrays: `.npz`, `.npy` pairs, CSV with a header row, the `.amat` text of the
Larochelle et al. 2007 benchmarks, and folders of images with one subfolder per class. Every problem with a
file is one sentence naming the file and what is wrong."""

import csv
import dataclasses
import pathlib
import zipfile

import numpy as np

from stackae.errors import DataError
from stackae.provenance import path_sha256

TABLE_SUFFIXES = (".npz", ".npy", ".csv", ".amat")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FORMATS = ".npz, .npy, .csv, .amat, or a folder with one subfolder of PNG/JPEG images per class"


def is_data_path(name: str) -> bool:
    """Whether a dataset name names local files: it ends in a data file suffix, starts with '/', './', '../'
    or '~', ends with '/', or contains a '/' and exists (TFDS names such as imagenet_resized/32x32 do not)."""
    name = str(name)
    return (pathlib.Path(name).suffix.lower() in TABLE_SUFFIXES or name.startswith(("/", "./", "../", "~"))
            or name.endswith("/") or ("/" in name and pathlib.Path(name).exists()))


@dataclasses.dataclass(frozen=True)
class Examples:
    """Inputs (n, features) as float32 and integer labels (n,) read from one file or folder."""

    x: np.ndarray
    y: np.ndarray
    source: str  # the file or folder they came from, for messages


@dataclasses.dataclass(frozen=True)
class FileSplits:
    """The splits read from the user's files; valid and test are None where no file gave them."""

    train: Examples
    valid: Examples | None
    test: Examples | None
    sources: dict  # {file or folder: sha256 of its contents}


def read_splits(train: str, valid: str = "", test: str = "", *, label_column: str = "label",
                image_size: tuple = (), input_scale: float = 1.0) -> FileSplits:
    """Read the training file (an `.npz` may also hold valid_x/valid_y and test_x/test_y) and the optional
    validation and test files, all of one format; inputs are divided by `input_scale` (uint8 arrays and images
    by 255)."""
    read = dict(label_column=label_column, image_size=image_size, input_scale=input_scale)
    train, valid, test = (str(pathlib.Path(p).expanduser()) if p else "" for p in (train, valid, test))
    splits = _read(train, class_names=None, **read)
    names = splits.pop("class_names", None)
    for split, path in (("valid", valid), ("test", test)):
        if path:
            given = _read(path, class_names=names, **read)
            splits[split] = given["train"]
    for split in ("valid", "test"):
        if split in splits and splits[split].x.shape[1] != splits["train"].x.shape[1]:
            raise DataError(f"{splits[split].source} has {splits[split].x.shape[1]} input values per example but "
                            f"{splits['train'].source} has {splits['train'].x.shape[1]}; give {split} examples of "
                            "the training examples' shape.")
    sources = {str(f): path_sha256(f)[:16] for path in (train, valid, test) if path for f in _files_of(path)}
    return FileSplits(splits["train"], splits.get("valid"), splits.get("test"), sources)


def _files_of(path: str) -> list:
    """The files (or folder) a data path reads: a .npy inputs file with its labels file."""
    p = pathlib.Path(path)
    return [p, _labels_of(p)] if p.suffix.lower() == ".npy" else [p]


def _labels_of(path: pathlib.Path) -> pathlib.Path:
    stem = path.name[: -len(path.suffix)]
    if not (stem == "x" or stem.endswith("_x")):
        raise DataError(f"{path}: name a .npy inputs file x.npy or NAME_x.npy, with its labels beside it in y.npy "
                        "or NAME_y.npy.")
    return path.with_name(stem[:-1] + "y" + path.suffix)


def _read(path: str, class_names, label_column, image_size, input_scale) -> dict:
    p = pathlib.Path(path)
    if not p.exists():
        raise DataError(f"data file {path} does not exist; check the path (relative paths start from the current "
                        "folder).")
    if p.is_dir():
        return _read_image_folder(p, image_size, class_names)
    suffix = p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path} is not a data file stackae reads; give {FORMATS}.")
    if p.stat().st_size == 0:
        raise DataError(f"data file {path} is empty; give it examples.")
    if suffix == ".npz":
        return _read_npz(p, input_scale)
    if suffix == ".npy":
        return {"train": _read_npy_pair(p, input_scale)}
    if suffix == ".csv":
        return {"train": _read_csv(p, label_column, input_scale)}
    return {"train": _read_amat(p, input_scale)}


def _examples(source, x, y, input_scale: float, rows_from: int = 1, row_word: str = "example") -> Examples:
    """Checked Examples: finite inputs, one integer label >= 0 per example; inputs scaled to float32."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise DataError(f"{source} holds non-numeric {'inputs' if x.dtype.kind not in 'biuf' else 'labels'}; "
                        "give numbers.")
    if len(x) == 0:
        raise DataError(f"{source} has no examples; give it examples.")
    if len(x) != len(y) or y.ndim != 1:
        raise DataError(f"{source} has {len(x)} inputs but labels of shape {y.shape}; give one label per input.")
    where = ~np.isfinite(y) | (y != np.round(y)) | (y < 0) if y.dtype.kind == "f" else y < 0
    if where.any():
        i = int(np.flatnonzero(where)[0])
        raise DataError(f"{source} has the label {y[i]:g} at {row_word} {i + rows_from}; labels must be integers "
                        "0, 1, 2, ... (one per class).")
    scale = 255.0 if x.dtype == np.uint8 else input_scale
    x = x.reshape(len(x), -1).astype(np.float32) / np.float32(scale)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise DataError(f"{source} has a NaN or Inf input at {row_word} {int(np.flatnonzero(bad)[0]) + rows_from}; "
                        "clean or drop that example.")
    return Examples(x, y.astype(np.int32), str(source))


def _read_npz(path: pathlib.Path, input_scale) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as e:
        raise DataError(f"{path} holds object arrays, which stackae does not unpickle; save numeric arrays with "
                        "np.savez(path, x=..., y=...).") from e
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz file; write it with np.savez(path, x=..., y=...).") from e
    if "x" not in arrays or "y" not in arrays:
        raise DataError(f"{path} holds {', '.join(sorted(arrays)) or 'no arrays'} but needs arrays named x and y "
                        "(optionally valid_x/valid_y and test_x/test_y); save them under these names.")
    splits = {"train": _examples(f"{path} (x, y)", arrays["x"], arrays["y"], input_scale)}
    for split in ("valid", "test"):
        keys = (f"{split}_x", f"{split}_y")
        if (keys[0] in arrays) != (keys[1] in arrays):
            raise DataError(f"{path} holds only one of {keys[0]} and {keys[1]}; save both or neither.")
        if keys[0] in arrays:
            splits[split] = _examples(f"{path} ({', '.join(keys)})", arrays[keys[0]], arrays[keys[1]], input_scale)
    return splits


def _read_npy_pair(path: pathlib.Path, input_scale) -> Examples:
    labels = _labels_of(path)
    if not labels.is_file():
        raise DataError(f"{path} needs its labels beside it in {labels.name}; save them there.")
    try:
        x, y = np.load(path, allow_pickle=False), np.load(labels, allow_pickle=False)
    except ValueError as e:
        raise DataError(f"{path} or {labels.name} is not a numeric .npy array; save it with np.save.") from e
    return _examples(path, x, y, input_scale)


def _read_csv(path: pathlib.Path, label_column: str, input_scale) -> Examples:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not a text file; give a CSV file with a header row.") from e
    header = [h.strip() for h in header]
    if label_column not in header:
        raise DataError(f"{path} has no column '{label_column}' in its header row ({', '.join(header[:8])}"
                        f"{', ...' if len(header) > 8 else ''}); name the label column with "
                        "--config.label_column=NAME.")
    table = _numbers(path, delimiter=",", skiprows=1, n_columns=len(header), header=header)
    label = header.index(label_column)
    return _examples(path, np.delete(table, label, axis=1), table[:, label], input_scale, rows_from=2,
                     row_word="line")


def _read_amat(path: pathlib.Path, input_scale) -> Examples:
    table = _numbers(path, delimiter=None, skiprows=0, n_columns=None, header=None)
    if table.shape[1] < 2:
        raise DataError(f"{path} has one value per row; an .amat row holds the input values, then the label.")
    return _examples(path, table[:, :-1], table[:, -1], input_scale, row_word="data row")


def _numbers(path, delimiter, skiprows, n_columns, header) -> np.ndarray:
    """A text table as float64 (rows, columns); on a malformed file, one sentence saying which line and why."""
    try:
        table = np.loadtxt(path, delimiter=delimiter, skiprows=skiprows, comments="#", ndmin=2, dtype=np.float64,
                           quotechar='"' if delimiter else None)
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(_table_problem(path, delimiter, skiprows, n_columns, header)) from e
    if table.size == 0:
        raise DataError(f"{path} has no examples{' below its header row' if header else ''}; give it examples.")
    if n_columns is not None and table.shape[1] != n_columns:
        raise DataError(f"{path} has {table.shape[1]} values per row but {n_columns} columns in its header row; "
                        "give every row one value per column.")
    return table


def _table_problem(path, delimiter, skiprows, n_columns, header) -> str:
    """Find the first bad line of a text table that np.loadtxt refused, and say what is wrong with it."""
    try:
        lines = pathlib.Path(path).read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        return f"{path} is not a text file; give {FORMATS}."
    rows = csv.reader(lines[skiprows:]) if delimiter else (line.split() for line in lines[skiprows:])
    for number, cells in enumerate(rows, start=skiprows + 1):
        if not cells or cells[0].lstrip().startswith("#"):
            continue
        if n_columns is None:
            n_columns = len(cells)
        if len(cells) != n_columns:
            return (f"{path} line {number} has {len(cells)} values but {'the header row has' if header else 'line 1 has'} "
                    f"{n_columns}; give every row one value per column.")
        for column, cell in enumerate(cells):
            try:
                float(cell)
            except ValueError:
                name = f"column '{header[column]}'" if header else f"value {column + 1}"
                shown = repr(cell.strip()) if cell.strip() else "empty"
                return f"{path} line {number}, {name}, is {shown}, not a number; give numbers in every cell."
    return f"{path} could not be read as a table of numbers; give {FORMATS}."


def _read_image_folder(folder: pathlib.Path, image_size, class_names) -> dict:
    """Images of `folder`/<class>/*.png|jpg, labelled by the class folders' sorted names (or by `class_names`,
    those of the training folder); grayscale unless some image has colour."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if class_names is None and len(classes) < 2:
        raise DataError(f"image folder {folder} has {len(classes)} class subfolder{'s' * (len(classes) != 1)}; "
                        "give one subfolder of images per class, at least two.")
    if class_names is not None and (extra := sorted(set(classes) - set(class_names))):
        raise DataError(f"image folder {folder} has the class {extra[0]!r}, which the training folder lacks "
                        f"(its classes: {', '.join(class_names)}); use the training folder's class names.")
    names = class_names or classes
    images, labels, first = [], [], None
    for label, name in enumerate(names):
        files = sorted(p for p in (folder / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith(".")) if (folder / name).is_dir() else []
        if not files and class_names is None:
            raise DataError(f"class folder {folder / name} holds no PNG or JPEG images; put the class's images "
                            "there or remove the folder.")
        for file in files:
            image = _image(file, image_size)
            if first is None:
                first = (file, image.shape)
            elif image.shape[:2] != first[1][:2]:
                raise DataError(f"{file} is {image.shape[1]}x{image.shape[0]} pixels but {first[0]} is "
                                f"{first[1][1]}x{first[1][0]}; resize them alike, or set "
                                f"--config.image_size='({first[1][0]},{first[1][1]})' to resize on reading.")
            images.append(image)
            labels.append(label)
    if not images:
        raise DataError(f"image folder {folder} holds no PNG or JPEG images; put each class's images in its "
                        "subfolder.")
    stack = np.stack(images)
    if (stack == stack[..., :1]).all():  # no image has colour: one grayscale channel
        stack = stack[..., 0]
    return {"train": _examples(folder, stack, np.asarray(labels), 255.0), "class_names": tuple(names)}


def _image(file: pathlib.Path, image_size) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            image = image.convert("RGB")
            if image_size:
                image = image.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{file} is not a readable PNG or JPEG image; replace or remove it.") from e
