"""What the data was made from and what it is: the checksums of the original files a TFDS dataset was
prepared from (kept beside the prepared data and checked on every load), and a fingerprint of loaded arrays."""

import hashlib
import json
import pathlib

import numpy as np

from stackae.errors import DataError

SOURCES_FILE = "stackae_sources.json"  # written into the builder's versioned data_dir after preparing
_ARRAYS = ("train_x", "train_y", "valid_x", "valid_y", "test_x", "test_y")


def file_sha256(path) -> str:
    """Hex sha256 of a file (what TFDS records in its checksums files), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def path_sha256(path) -> str:
    """Hex sha256 of a file, or of a folder: every file under it, by relative name and sha256, in sorted order."""
    folder = pathlib.Path(path)
    if not folder.is_dir():
        return file_sha256(folder)
    digest = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{f.relative_to(folder).as_posix()}:{file_sha256(f)};".encode())
    return digest.hexdigest()


def official_files(builder) -> dict:
    """{file name: UrlInfo(size, checksum, filename)} registered by TFDS for this builder (its checksums file);
    empty where TFDS records no checksums or no file names (e.g. datasets read from a manual_dir by the builder
    itself)."""
    try:
        infos = builder.url_infos or {}
    except Exception:  # a builder whose checksums file cannot be read: nothing to verify against
        return {}
    return {info.filename: info for info in infos.values() if getattr(info, "filename", None)}


def write_sources(data_dir, dataset: str, manual_dir: str, files: dict) -> pathlib.Path:
    """Record {file name: {"sha256", "size", "url"}} of the files `dataset` was prepared from in its data_dir."""
    path = pathlib.Path(data_dir) / SOURCES_FILE
    record = {"dataset": dataset, "manual_dir": str(pathlib.Path(manual_dir).resolve()) if manual_dir else "",
              "files": dict(sorted(files.items()))}
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def check_sources(builder, name: str) -> None:
    """Refuse a prepared dataset whose recorded source files differ from TFDS's official checksums; a dataset
    prepared without a record (older stackae, or plain TFDS) is accepted as it is."""
    data_dir = pathlib.Path(builder.data_dir)
    path = data_dir / SOURCES_FILE
    if not path.exists():
        return
    try:
        recorded = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path} is unreadable, so the source of the prepared '{name}' is unknown; delete "
                        f"{data_dir} and run again to prepare it from the original files.") from e
    official = official_files(builder)
    for file_name, entry in sorted(recorded.items()):
        expected = official.get(file_name)
        found = entry.get("sha256", "") if isinstance(entry, dict) else ""
        if expected is not None and found != expected.checksum:
            raise DataError(
                f"the prepared '{name}' in {data_dir} was made from a {file_name} with sha256 {found or 'unknown'} "
                f"instead of the official {expected.checksum}; delete {data_dir} and run again with manual_dir "
                "pointing at the original files to prepare it afresh.")


def data_fingerprint(data) -> dict:
    """Provenance of a loaded `stackae.data.Dataset`: name, TFDS version (empty for embedded data), split sizes
    and a short sha256 over the train/valid/test arrays (dtype, shape and bytes), so results name their data;
    for data read from files, the short sha256 of each file too."""
    digest = hashlib.sha256()
    for key in _ARRAYS:
        a = np.ascontiguousarray(getattr(data, key))
        digest.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.data)
    return {
        "dataset": data.name,
        "version": getattr(data, "version", ""),
        "n_classes": int(data.n_classes),
        "n_features": int(data.train_x.shape[1]),
        "sizes": {"train": int(len(data.train_x)), "valid": int(len(data.valid_x)), "test": int(len(data.test_x))},
        "sha256": digest.hexdigest()[:16],
        **({"sources": dict(data.sources)} if getattr(data, "sources", None) else {}),
    }
