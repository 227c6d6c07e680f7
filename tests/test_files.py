"""The user's own data files: every format reads to the same arrays, given splits win, bad files are refused in
one sentence naming the file, and the main job runs on each format end to end."""

import json
import pathlib
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import run_script_here
from stackae.config import load_config
from stackae.data import load_dataset
from stackae.errors import ConfigError, DataError
from stackae.provenance import data_fingerprint


def pixels(n=60, shape=(4, 5), classes=3, seed=0):
    """uint8 images and labels, sorted by class (the order a folder of class subfolders reads in)."""
    y = np.sort(np.arange(n) % classes)
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8), y


def write_npz(folder, x, y, **more):
    np.savez(folder / "data.npz", x=x, y=y, **more)
    return folder / "data.npz"


def write_npy(folder, x, y):
    np.save(folder / "train_x.npy", x)
    np.save(folder / "train_y.npy", y)
    return folder / "train_x.npy"


def write_csv(folder, x, y, name="data.csv", label="label"):
    rows = x.reshape(len(x), -1)
    lines = [",".join([*(f"p{i}" for i in range(rows.shape[1])), label])]
    lines += [",".join([*map(str, r), f"{c:g}"]) for r, c in zip(rows, y)]
    (folder / name).write_text("\n".join(lines) + "\n")
    return folder / name


def write_amat(folder, x, y, name="data.amat"):
    rows = x.reshape(len(x), -1)
    (folder / name).write_text("".join(" ".join([*map(str, r), f"{float(c):e}"]) + "\n" for r, c in zip(rows, y)))
    return folder / name


def write_images(folder, x, y, name="images"):
    for i, (image, c) in enumerate(zip(x, y)):
        (folder / name / f"class{c}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / name / f"class{c}" / f"{i:04d}.png")
    return folder / name


def load(path, **overrides):
    return load_dataset(load_config(None, {"dataset": str(path), **{k: str(v) for k, v in overrides.items()}}))


def test_every_format_reads_to_the_same_arrays_and_the_fingerprint_names_the_file(tmp_path):
    x, y = pixels()
    datasets = [
        load(write_npz(tmp_path, x, y)),  # uint8 arrays are scaled by 255
        load(write_npy(tmp_path, x.astype(np.float32) / np.float32(255), y)),
        load(write_csv(tmp_path, x, y), input_scale=255),
        load(write_amat(tmp_path, x, y), input_scale=255),
        load(write_images(tmp_path, x, y)),
    ]
    prints = [data_fingerprint(d) for d in datasets]
    assert len({p["sha256"] for p in prints}) == 1, prints
    assert prints[0]["sizes"] == {"train": 43, "valid": 5, "test": 12} and prints[0]["n_features"] == 20
    assert prints[0]["n_classes"] == 3
    assert [list(p["sources"]) for p in prints] == [
        [str(tmp_path / "data.npz")], [str(tmp_path / "train_x.npy"), str(tmp_path / "train_y.npy")],
        [str(tmp_path / "data.csv")], [str(tmp_path / "data.amat")], [str(tmp_path / "images")]]
    np.testing.assert_array_equal(datasets[0].train_x, datasets[4].train_x)


def test_the_fingerprint_follows_the_file_contents(tmp_path):
    x, y = pixels()
    before = data_fingerprint(load(write_csv(tmp_path, x, y), input_scale=255))["sources"]
    x[0, 0, 0] ^= 1
    after = data_fingerprint(load(write_csv(tmp_path, x, y), input_scale=255))["sources"]
    assert before.keys() == after.keys() and before != after


def test_given_validation_and_test_splits_win_over_carving(tmp_path):
    x, y = pixels(n=90)
    shuffle = np.random.default_rng(1).permutation(90)
    x, y = x[shuffle], y[shuffle]
    path = write_npz(tmp_path, x[:60], y[:60], valid_x=x[60:75], valid_y=y[60:75], test_x=x[75:], test_y=y[75:])
    d = load(path)
    assert (len(d.train_x), len(d.valid_x), len(d.test_x)) == (60, 15, 15)
    np.testing.assert_array_equal(d.test_y, y[75:])
    train = write_csv(tmp_path, x[:60], y[:60])
    test = write_csv(tmp_path, x[60:], y[60:], name="test.csv")
    d = load(train, test_data=test, input_scale=255)
    assert (len(d.train_x), len(d.valid_x), len(d.test_x)) == (54, 6, 30)
    assert str(test) in data_fingerprint(d)["sources"]
    valid = write_csv(tmp_path, x[60:70], y[60:70], name="valid.csv")
    d = load(train, valid_data=valid, test_data=test, input_scale=255)
    assert (len(d.train_x), len(d.valid_x), len(d.test_x)) == (60, 10, 30)
    np.testing.assert_array_equal(d.valid_y, y[60:70])


def test_image_folders_keep_colour_resize_when_asked_and_label_a_test_folder_by_class_name(tmp_path):
    x, y = pixels(n=30, shape=(6, 4, 3))
    d = load(write_images(tmp_path, x, y))
    assert d.n_features == 6 * 4 * 3  # colour kept, flattened (height, width, channel)
    d = load(tmp_path / "images", image_size="(3,2)")
    assert d.n_features == 3 * 2 * 3
    gray, labels = pixels(n=30, shape=(6, 4))
    train = write_images(tmp_path, gray, labels, name="gray")
    only_class_2 = write_images(tmp_path, gray[labels == 2], np.full(10, 2), name="test2")
    d = load(train, test_data=only_class_2)
    assert d.n_classes == 3 and set(d.test_y.tolist()) == {2}  # labelled by the training folder's names


def test_a_csv_label_column_can_be_named_and_text_cells_are_refused_with_line_and_column(tmp_path):
    x, y = pixels()
    path = write_csv(tmp_path, x, y, label="digit")
    with pytest.raises(DataError, match=r"has no column 'label'.*--config.label_column=NAME"):
        load(path, input_scale=255)
    assert load(path, input_scale=255, label_column="digit").n_classes == 3
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[2], "n/a", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"line 6, column 'p2', is 'n/a', not a number"):
        load(path, input_scale=255, label_column="digit")


def test_files_keys_are_refused_for_a_named_dataset():
    with pytest.raises(ConfigError, match="test_data.*not read from files"):
        load_config(None, {"test_data": "t.csv"})
    with pytest.raises(ConfigError, match="image_size"):
        load_config(None, {"image_size": "(28,)"})


# Each kind of broken file: (how to break a good set of files, which file the sentence must name).
KINDS = ("missing", "empty", "ragged", "text_cell", "fractional_label", "negative_label", "nan_inf",
         "outside_unit", "missing_class", "test_width", "one_class_folder", "unreadable_image", "npy_labels")


def broken_files(folder: pathlib.Path, kind: str, fmt: str, row: int, value: float):
    """Write a small dataset in `fmt` broken in the way `kind` says; returns (overrides, the file to name)."""
    x, y = pixels(n=24, shape=(3, 3), seed=row)
    write = {"csv": write_csv, "amat": write_amat}[fmt]
    if kind in ("one_class_folder", "unreadable_image"):
        images = write_images(folder, x, y if kind == "unreadable_image" else y * 0)
        bad = images / "class1" / "0009.png" if kind == "unreadable_image" else images
        if kind == "unreadable_image":
            bad.write_bytes(b"not a png")
        return {"dataset": images}, bad
    x = x.reshape(len(x), -1) / 255
    if kind == "npy_labels":
        path = write_npy(folder, x, y)
        (folder / "train_y.npy").unlink()
        return {"dataset": path}, path
    if kind == "fractional_label":
        y = y.astype(np.float64)
        y[row] += 0.5
    if kind == "negative_label":
        y = y.copy()
        y[row] = -1
    if kind == "nan_inf":
        x[row, row % 9] = value
    if kind == "outside_unit":
        x[row, row % 9] = 1 + abs(value) if row % 2 else -abs(value) - 0.01
    if kind == "missing_class":
        x, y = x[y != 1], y[y != 1]
    path = write(folder, x, y)
    overrides = {"dataset": path}
    if kind in ("missing_class", "test_width"):
        test_x, test_y = pixels(n=9, shape=(3, 2 if kind == "test_width" else 3), seed=1)
        overrides["test_data"] = write(folder, test_x / 255, test_y, name=f"test.{fmt}")
        return overrides, overrides["test_data"] if kind == "test_width" else path
    lines = path.read_text().splitlines()
    line = row + (1 if fmt == "csv" else 0)  # below a CSV's header row
    sep = "," if fmt == "csv" else " "
    cells = lines[line].split(sep)
    if kind == "missing":
        path.unlink()
    if kind == "empty":
        path.write_text("")
    if kind == "ragged":
        lines[line] = sep.join(cells[:-2] + cells[-1:])
    if kind == "text_cell":
        cells[row % 9] = "abc" if fmt == "amat" else ["abc", "", "1..2", "x"][row % 4]
        lines[line] = sep.join(cells)
    if kind in ("ragged", "text_cell"):
        path.write_text("\n".join(lines) + "\n")
    return overrides, path


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), fmt=st.sampled_from(("csv", "amat")), row=st.integers(0, 20),
       value=st.sampled_from((float("nan"), float("inf"), -float("inf"), 0.5, 254.0)))
def test_a_broken_file_of_each_kind_is_refused_in_one_sentence_naming_it(kind, fmt, row, value):
    if kind == "nan_inf" and np.isfinite(value):
        value = float("nan")
    if kind == "outside_unit" and not np.isfinite(value):
        value = 0.5
    with tempfile.TemporaryDirectory() as tmp:
        overrides, bad = broken_files(pathlib.Path(tmp), kind, fmt, row, value)
        with pytest.raises(DataError) as caught:
            load_dataset(load_config(None, {k: str(v) for k, v in overrides.items()}))
    message = str(caught.value)
    assert str(bad) in message and "\n" not in message and message.endswith("."), (kind, message)


def test_the_main_job_runs_on_each_format_end_to_end_with_the_same_numbers(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.random.default_rng(0).permutation(len(digits.target))[:400]
    x, y = digits.data[keep].astype(np.uint8), digits.target[keep]
    order = np.argsort(y, kind="stable")
    x, y = x[order], y[order]  # class order, as an image folder reads
    files = {"npz": write_npz(tmp_path, x * 15, y), "csv": write_csv(tmp_path, x * 15, y),
             "amat": write_amat(tmp_path, x * 15, y), "images": write_images(tmp_path, (x * 15).reshape(-1, 8, 8), y)}
    tiny = ["--config.layers=(16,)", "--config.seeds=2", "--config.pretrain.epochs=2", "--config.finetune.epochs=4",
            "--config.finetune.patience=4"]
    errors = {}
    for fmt, path in files.items():
        scale = [] if fmt in ("npz", "images") else ["--config.input_scale=255"]
        workdir = tmp_path / f"run-{fmt}"
        proc = run_script_here("compare", "--workdir", workdir, f"--config.dataset={path}", *scale, *tiny)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "pretrained - random, paired over seeds" in proc.stdout
        comparison = json.loads((workdir / "comparison.json").read_text())
        results = json.loads((workdir / "finetune-pretrained" / "results.json").read_text())
        assert list(results["data"]["sources"]) == [str(path)]
        errors[fmt] = (results["data"]["sha256"], json.dumps(comparison, sort_keys=True))
    assert len(set(errors.values())) == 1, errors


def test_a_bad_file_stops_the_main_job_with_exit_2_and_one_line(tmp_path):
    x, y = pixels()
    path = write_csv(tmp_path, x, y)  # 0-255 pixels without input_scale
    proc = run_script_here("compare", "--workdir", tmp_path / "w", f"--config.dataset={path}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "--config.input_scale=255" in lines[0], proc.stderr


def test_a_name_is_a_path_only_when_it_looks_like_one_so_tfds_names_with_a_slash_stay_tfds(tmp_path, monkeypatch):
    from stackae.files import is_data_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist").mkdir()  # a local folder named like a TFDS dataset does not hijack the name
    (tmp_path / "data" / "images").mkdir(parents=True)
    assert not any(map(is_data_path, ["mnist", "digits", "imagenet_resized/32x32", "data/missing"]))
    assert all(map(is_data_path, ["x.csv", "a/b.NPZ", "./mnist", "mnist/", "/abs/folder", "~/d", "data/images"]))
