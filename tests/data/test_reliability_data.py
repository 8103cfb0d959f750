"""Issue 9, data faults: a broken IDX folder stops `train` and `eval` with one line that names
the file (or data.root) and what was expected, before any run directory is written.
The reader's own byte-level checks are in tests/data/test_sources.py."""

import gzip
import struct
from pathlib import Path

import pytest
import torch

from mnistmax.data.sources import IDX_FILES, load_idx_folder, load_source, write_idx
from mnistmax.errors import DataError
from mnistmax.tasks import build_task
from tests.helpers import fake_run, invoke, one_error_line, tiny_config


def write_split(folder: Path, images: torch.Tensor, labels: torch.Tensor, split: str = "train") -> Path:
    write_idx(folder / IDX_FILES[f"{split}_images"], images)
    write_idx(folder / IDX_FILES[f"{split}_labels"], labels)
    return folder


def good_split(embedded, n: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    return embedded.train_images[:n].clone(), embedded.train_labels[:n].clone()


def cut(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def gzip_without_suffix(folder, images, labels):  # a .gz file saved under the plain name
    write_split(folder, images, labels)
    path = folder / IDX_FILES["train_images"]
    path.write_bytes(gzip.compress(path.read_bytes()))


def zero_dimensions(folder, images, labels):
    write_split(folder, images, labels)
    (folder / IDX_FILES["train_labels"]).write_bytes(bytes([0, 0, 0x08, 0]))


def truncated_body(folder, images, labels):
    write_split(folder, images, labels)
    cut(folder / IDX_FILES["train_images"], 0.5)


def truncated_header(folder, images, labels):
    write_split(folder, images, labels)
    (folder / IDX_FILES["train_images"]).write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">I", len(images)))


def truncated_gzip(folder, images, labels):
    write_idx(folder / (IDX_FILES["train_images"] + ".gz"), images)
    write_idx(folder / IDX_FILES["train_labels"], labels)
    cut(folder / (IDX_FILES["train_images"] + ".gz"), 0.5)


FAULTS = {  # name: (write the folder, what the one line must say)
    "wrong-magic": (gzip_without_suffix, "train-images-idx3-ubyte is not an IDX file (bad magic number)"),
    "no-dimensions": (zero_dimensions, "train-labels-idx1-ubyte is not an IDX file (bad magic number)"),
    "truncated-body": (truncated_body, "train-images-idx3-ubyte is truncated: header says (60, 28, 28)"),
    "truncated-header": (truncated_header, "train-images-idx3-ubyte is truncated: its header needs 3"),
    "truncated-gzip": (truncated_gzip, "cannot read IDX file"),
    "count-mismatch": (lambda f, x, y: write_split(f, x, y[:50]),
                       "hold different numbers of items (60 images, 50 labels)"),
    "32x32-images": (lambda f, x, y: write_split(f, torch.nn.functional.pad(x, (2, 2, 2, 2)), y),
                     "holds images of shape (60, 32, 32); expected (N, 28, 28)"),
    "flat-images": (lambda f, x, y: write_split(f, x.reshape(len(x), -1), y),
                    "holds images of shape (60, 784); expected (N, 28, 28)"),
    "files-swapped": (lambda f, x, y: write_split(f, y, x), "holds images of shape (60,); expected (N, 28, 28)"),
    "2d-labels": (lambda f, x, y: write_split(f, x, y[:, None]), "holds labels of shape (60, 1); expected (N,)"),
    "root-missing": (lambda f, x, y: f.rmdir(), "is not a folder (data.source=idx needs a folder of IDX files)"),
    "root-is-a-file": (lambda f, x, y: (f.rmdir(), f.write_text("digits")), "is not a folder"),
    "no-idx-files": (lambda f, x, y: (f / "readme.txt").write_text("empty"), "no IDX files in"),
}


@pytest.fixture
def broken(request, tmp_path, embedded):
    make, hint = FAULTS[request.param]
    folder = tmp_path / "idx"
    folder.mkdir()
    make(folder, *good_split(embedded))
    return folder, hint


@pytest.mark.parametrize("broken", list(FAULTS), indirect=True)
def test_broken_idx_folder_is_a_data_error(broken):
    folder, hint = broken
    with pytest.raises(DataError) as info:
        load_source("idx", "mnist", folder)
    assert hint in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("broken", list(FAULTS), indirect=True)
def test_train_on_a_broken_idx_folder_is_one_line(broken, tmp_path):
    folder, hint = broken
    out = tmp_path / "out"
    result = invoke("train", "-c", "configs/quick.yaml", "data.source=idx", f"data.root={folder}",
                    f"logging.output_dir={out}")
    assert result.exit_code == 2  # a data error, like a config error
    assert hint in one_error_line(result)
    assert not out.exists()  # stopped before a run directory was made


@pytest.mark.parametrize("broken", ["wrong-magic", "count-mismatch", "32x32-images", "root-missing"], indirect=True)
def test_eval_on_a_broken_idx_folder_is_one_line(broken, tmp_path):
    folder, hint = broken
    if (folder / IDX_FILES["train_images"]).exists():  # eval reads the test split
        for kind in ("images", "labels"):
            (folder / IDX_FILES[f"train_{kind}"]).rename(folder / IDX_FILES[f"test_{kind}"])
        hint = hint.replace("train-", "t10k-")
    run = fake_run(tmp_path, {"state_dict": build_task(tiny_config()).state_dict()})
    result = invoke("eval", run, "data.source=idx", f"data.root={folder}", "data.limit_test=null")
    assert result.exit_code == 2  # a data error, like a config error
    assert hint in one_error_line(result)
    assert not (run / "eval").exists()


def test_a_good_idx_folder_still_loads(tmp_path, embedded):
    images, labels = good_split(embedded)
    bundle = load_idx_folder(write_split(tmp_path, images, labels))
    assert torch.equal(bundle.train_images, images) and torch.equal(bundle.train_labels, labels)
