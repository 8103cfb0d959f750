"""Fuzzed inputs for every reader of users' files (issue "hostile inputs"): for any bytes, a reader
returns a valid result or raises the project's one-line error naming the file (an MnistmaxError),
never another exception, and never allocates much for a small file (the caps are lowered here, and
the Python allocations of each call are traced).

Each property is a plain function `check_*`, given bounded examples here (derandomized: CI is
repeatable) and many more in tests/slow/test_fuzz_readers_slow.py."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from mnistmax.config import RunConfig
from mnistmax.config.load import read_yaml_mapping
from mnistmax.data.arrays import load_npz, npz_headers
from mnistmax.data.folder import load_folder
from mnistmax.data.inputs import ImageError, picture_to_digit, read_image, to_batch
from mnistmax.data.preprocess import to_mnist
from mnistmax.data.sources import DataBundle, idx_bytes, load_idx_folder, read_idx
from mnistmax.errors import ConfigError, DataError, MnistmaxError
from mnistmax.exported import ExportError, load_export, read_export
from mnistmax.tasks import build_task, load_config
from mnistmax.userfiles import read_input

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's "Corrupt EXIF data" and the like
ROOT = Path(__file__).resolve().parents[2]
FAST_EXAMPLES = 25  # per test here; the slow file runs 400 each
FAST = settings(max_examples=FAST_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

# caps while fuzzing: a small file that gets past them could not allocate much anyway
FUZZ_PIXELS = 512 * 512
FUZZ_INFLATED = 4 * 1024 * 1024
TRACED_LIMIT = 64 * 1024 * 1024  # the most Python / numpy memory one read of a fuzzed file may take


# ---------------------------------------------------------------- the contract


@contextlib.contextmanager
def hostile_env(cache: Path | None = None):
    """Lowered caps (and a private folder cache) for the duration of one example."""
    values = {"MNISTMAX_MAX_PIXELS": str(FUZZ_PIXELS), "MNISTMAX_MAX_INFLATED_BYTES": str(FUZZ_INFLATED)}
    if cache is not None:
        values["MNISTMAX_CACHE"] = str(cache)
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def outcome(call, where, kinds: tuple[type[MnistmaxError], ...] = (MnistmaxError,), traced: bool = True):
    """call()'s result, or None when it raised one line naming `where` (any other exception fails
    the test); its traced allocations stay under TRACED_LIMIT."""
    tracing = traced and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    try:
        return call()
    except kinds as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert str(where) in message, f"{message!r} does not name {where}"
        assert len(message) < 2000, message[:300]
        return None
    finally:
        if tracing:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < TRACED_LIMIT, f"{peak:,} bytes allocated for a fuzzed file"


# ---------------------------------------------------------------- byte-level strategies


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` cut at a random position, or with a few bits flipped, bytes overwritten, inserted or deleted."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "flip", "set", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "cut":
            del data[at:]
        elif op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            chunk = draw(st.sampled_from([b"\x00", b"\xff", b"\x7f", b"\x80"]) | st.binary(min_size=1, max_size=4))
            data[at:at + len(chunk)] = chunk
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


def fuzzed(seeds: dict[str, bytes], magic: list[bytes] = ()) -> st.SearchStrategy[tuple[str, bytes]]:
    """(seed name, bytes): a valid seed, a mutated one, random bytes, or random bytes after a format's magic."""
    names = sorted(seeds)
    valid = st.sampled_from(names).map(lambda n: (n, seeds[n]))
    changed = st.sampled_from(names).flatmap(lambda n: mutated(seeds[n]).map(lambda b: (n, b)))
    noise = st.tuples(st.sampled_from(names), st.binary(max_size=200))
    prefixed = st.tuples(st.sampled_from(names), st.sampled_from(list(magic) or [b""]), st.binary(max_size=200)) \
        .map(lambda t: (t[0], t[1] + t[2]))
    return valid | changed | changed | changed | noise | prefixed


EDGE_SIZES = st.sampled_from([0, 1, 2, 27, 28, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1]) | \
    st.integers(0, 2**32 - 1)


# ---------------------------------------------------------------- pictures


def digit_picture(mode: str = "L") -> Image.Image:
    """A small picture of a stroke (dark ink on light paper) in `mode`."""
    img = Image.new("L", (28, 28), 240)
    ImageDraw.Draw(img).line([(8, 5), (18, 22)], fill=20, width=3)
    if mode == "I;16":
        return Image.fromarray(np.asarray(img).astype(np.uint16) * 257)
    if mode in ("I", "F"):
        return Image.fromarray(np.asarray(img).astype(np.int32 if mode == "I" else np.float32) / (1 if mode == "I"
                                                                                                 else 255.0))
    return img.convert(mode)


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _picture_seeds() -> dict[str, bytes]:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    seeds = {
        "l.png": encoded(digit_picture(), "PNG"),
        "rgba.png": encoded(digit_picture("RGBA"), "PNG"),
        "p.png": encoded(digit_picture("P"), "PNG", transparency=0),
        "i16.png": encoded(digit_picture("I;16"), "PNG"),
        "one.png": encoded(digit_picture("1"), "PNG"),
        "la.png": encoded(digit_picture("LA"), "PNG", compress_level=0),
        "exif.jpg": encoded(digit_picture("RGB"), "JPEG", exif=exif.tobytes(), quality=80),
        "l.jpg": encoded(digit_picture(), "JPEG", progressive=True),
        "p.gif": encoded(digit_picture("P"), "GIF"),
        "rgb.bmp": encoded(digit_picture("RGB"), "BMP"),
        "l.tif": encoded(digit_picture(), "TIFF"),
        "lzw.tif": encoded(digit_picture("RGB"), "TIFF", compression="tiff_lzw"),
        "f.tif": encoded(digit_picture("F"), "TIFF"),
        "i.tif": encoded(digit_picture("I"), "TIFF"),
        "lossless.webp": encoded(digit_picture("RGBA"), "WEBP", lossless=True),
        "lossy.webp": encoded(digit_picture("RGB"), "WEBP", quality=50),
        "l.pgm": encoded(digit_picture(), "PPM"),
    }
    return seeds


PICTURES = _picture_seeds()
PICTURE_MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
                 b"RIFF\x00\x01\x00\x00WEBPVP8L", b"RIFF\x00\x01\x00\x00WEBPVP8X", b"P5\n", b"P6\n"]


def png_declaring(width: int, height: int, depth: int, colour: int, interlace: int) -> bytes:
    """The seed PNG whose IHDR then declares other dimensions, bit depth, colour type or interlace (CRC fixed)."""
    data = bytearray(PICTURES["l.png"])
    data[16:29] = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def bmp_declaring(width: int, height: int, bits: int, compression: int) -> bytes:
    data = bytearray(PICTURES["rgb.bmp"])
    data[18:34] = struct.pack("<iiHHI", width, height, 1, bits, compression)  # the BITMAPINFOHEADER's fields
    return bytes(data)


def gif_declaring(width: int, height: int) -> bytes:
    data = bytearray(PICTURES["p.gif"])
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen
    at = data.find(b"\x2c", 13)  # the image descriptor: left, top, width, height
    if at > 0:
        data[at + 5:at + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def tiff_declaring(tag_values: dict[int, int]) -> bytes:
    """The seed TIFF (little-endian) with some of its first IFD's tags set to LONG values."""
    data = bytearray(PICTURES["l.tif"])
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        tag = struct.unpack_from("<H", data, entry)[0]
        if tag in tag_values:
            struct.pack_into("<HHII", data, entry, tag, 4, 1, tag_values[tag] & 0xFFFFFFFF)
    return bytes(data)


def webp_declaring(width: int, height: int) -> bytes:
    """A lossless WebP whose VP8L header declares up to 16384 x 16384 pixels."""
    data = bytearray(PICTURES["lossless.webp"])
    at = data.find(b"VP8L")
    bits = ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14) | (struct.unpack_from("<I", data, at + 9)[0]
                                                                           & ~0x0FFFFFFF)
    struct.pack_into("<I", data, at + 9, bits)
    return bytes(data)


def pnm_declaring(width: int, height: int, maxval: int, magic: str) -> bytes:
    return f"{magic}\n{width} {height}\n{maxval}\n".encode() + bytes(range(256)) * 3


hostile_pictures = st.one_of(
    st.builds(lambda *a: ("hostile.png", png_declaring(*a)), EDGE_SIZES, EDGE_SIZES,
              st.sampled_from([1, 2, 4, 8, 16, 0, 3, 255]), st.sampled_from([0, 2, 3, 4, 6, 1, 7]),
              st.sampled_from([0, 1, 2])),
    st.builds(lambda *a: ("hostile.bmp", bmp_declaring(*a)), st.integers(-2**31, 2**31 - 1),
              st.integers(-2**31, 2**31 - 1), st.sampled_from([0, 1, 4, 8, 16, 24, 32, 64]), st.integers(0, 12)),
    st.builds(lambda *a: ("hostile.gif", gif_declaring(*a)), st.integers(0, 65535), st.integers(0, 65535)),
    st.builds(lambda d: ("hostile.tif", tiff_declaring(d)),
              st.dictionaries(st.sampled_from([256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 339]),
                              EDGE_SIZES, min_size=1, max_size=4)),
    st.builds(lambda *a: ("hostile.webp", webp_declaring(*a)), st.integers(1, 16384), st.integers(1, 16384)),
    st.builds(lambda *a: ("hostile.pgm", pnm_declaring(*a)), st.integers(-5, 10**12), st.integers(-5, 10**12),
              st.sampled_from([0, 1, 255, 256, 65535, 65536, 10**20]), st.sampled_from(["P2", "P3", "P5", "P6"])),
)
pictures = fuzzed(PICTURES, PICTURE_MAGIC) | hostile_pictures


def _warm_up() -> None:
    """Decode each seed once, untraced: Pillow's plugins and scipy are imported on first use, and an
    import must not count as what a fuzzed file allocated."""
    with tempfile.TemporaryDirectory() as tmp, hostile_env(Path(tmp)):
        for name, data in PICTURES.items():
            path = Path(tmp) / name
            path.write_bytes(data)
            picture_to_digit(path)


_warm_up()


def check_picture(data: bytes, name: str = "x.png") -> None:
    """read_image, picture_to_digit (framed, and not) and to_batch on one picture file, and
    picture_to_digit on the PIL image the user would get from Image.open (lazy: nothing decoded yet)."""
    with tempfile.TemporaryDirectory() as tmp, hostile_env():
        path = Path(tmp) / f"pic{Path(name).suffix}"
        path.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                lazy = Image.open(path)  # the user's own call: what it raises or warns is not ours
        except Exception:
            lazy = None
        if lazy is not None:
            with lazy:
                digit = outcome(lambda: picture_to_digit(lazy), path, (ImageError,))
                assert digit is None or (digit.shape == (28, 28) and digit.dtype == np.uint8)
        image = outcome(lambda: read_image(path), path, (ImageError,))
        if image is None:
            return
        assert isinstance(image, np.ndarray) and image.dtype in (np.uint8, np.uint16, np.float32)
        assert image.ndim in (2, 3) and image.shape[0] * image.shape[1] <= FUZZ_PIXELS
        assert image.ndim == 2 or image.shape[2] in (3, 4)
        digit = outcome(lambda: picture_to_digit(path), path, (ImageError,))
        if digit is not None:
            assert digit.shape == (28, 28) and digit.dtype == np.uint8
            batch = to_batch(path)
            assert batch.images.shape == (1, 1, 28, 28) and torch.equal(batch.images[0, 0] * 255,
                                                                        torch.from_numpy(digit).float())
        raw = outcome(lambda: picture_to_digit(path, preprocess=False), path, (ImageError,))
        assert raw is None or (raw.shape == (28, 28) and raw.dtype == np.uint8)


@FAST
@given(pictures)
@example(("one.png", PICTURES["one.png"]))
@example(("tiny.png", encoded(Image.new("L", (1, 1)), "PNG")))  # refused without the file's name (fixed)
@example(("tiny.png", encoded(Image.new("L", (1, 40)), "PNG")))
def test_any_picture_file_reads_or_is_one_image_error_line(case):
    check_picture(case[1], case[0])


# ---------------------------------------------------------------- arrays (.npz / .npy)

X = (np.arange(3 * 28 * 28) % 256).astype(np.uint8).reshape(3, 28, 28)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npz_bytes(compressed: bool = False, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


ARRAYS = {
    "u8.npy": npy_bytes(X),
    "f4.npy": npy_bytes(X.astype(np.float32) / 255),
    "i2be.npy": npy_bytes(X.astype(">i2")),
    "channel.npy": npy_bytes(X[:, None]),
    "keras.npz": npz_bytes(x_train=X, y_train=np.arange(3), x_test=X[:2], y_test=np.arange(2)),
    "compressed.npz": npz_bytes(True, x_train=X, y_train=np.arange(3, dtype=np.uint8)),
    "unlabelled.npz": npz_bytes(x_train=X.astype(np.float64) / 255),
}
ARRAY_MAGIC = [b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x93NUMPY\x03\x00", b"PK\x03\x04", b"PK\x05\x06"]

DESCRS = ["|u1", "<f4", ">f8", "<i8", ">i2", "|b1", "<f2", "<c8", "<U3", "|S0", "|V0", "|V8", "|O", "<M8[s]",
          "<m8[D]", "<u8", "[('a', '<i4')]", "'<u1'", "'nonsense'", "1", "None", "{'x': 1}"]
DIM = st.sampled_from([0, 1, 3, 28, -1, -28, 2**31, 2**63, 2**64 + 3, 10**30]) | st.integers(-2, 3000)


@st.composite
def npy_header(draw) -> bytes:
    """An .npy file whose header declares any dtype, order and shape (even a malformed one), then a few bytes."""
    descr = draw(st.sampled_from(DESCRS))
    descr = descr if descr.startswith(("[", "'", "{")) or descr.isdigit() or descr == "None" else repr(descr)
    shape = draw(st.lists(DIM, max_size=5).map(tuple) | st.sampled_from(["()", "(3,28,28", "[3, 28, 28]", "x"]))
    order = draw(st.sampled_from(["False", "True", "0", "'no'"]))
    text = f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}"
    version = draw(st.sampled_from([1, 2, 3]))
    head = text.encode("latin1")
    pad = -(len(head) + 11 + (2 if version > 1 else 0)) % 64
    head += b" " * pad + b"\n"
    size = struct.pack("<H", len(head)) if version == 1 else struct.pack("<I", len(head))
    body = draw(st.binary(max_size=64) | st.just(X.tobytes()))
    return b"\x93NUMPY" + bytes([version, 0]) + size + head + body


@st.composite
def npz_of(draw, member: st.SearchStrategy[bytes]) -> bytes:
    """A zip of one or two members named like Keras' arrays, stored or deflated."""
    buf = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buf, "w", method) as z:
        for key in draw(st.lists(st.sampled_from(["x_train", "y_train", "x_test", "other"]), min_size=1, max_size=2,
                                 unique=True)):
            z.writestr(f"{key}.npy", draw(member))
    return buf.getvalue()


hostile_arrays = st.one_of(
    npy_header().map(lambda b: ("hostile.npy", b)),
    npz_of(npy_header() | st.sampled_from([ARRAYS["u8.npy"], ARRAYS["f4.npy"]])).map(lambda b: ("hostile.npz", b)),
    npz_of(mutated(ARRAYS["u8.npy"])).map(lambda b: ("member.npz", b)),
)
arrays = fuzzed(ARRAYS, ARRAY_MAGIC) | hostile_arrays


def check_arrays(data: bytes, name: str = "x.npz") -> None:
    """load_npz (and npz_headers for an .npz) on one array file."""
    with tempfile.TemporaryDirectory() as tmp, hostile_env():
        path = Path(tmp) / f"data{Path(name).suffix}"
        path.write_bytes(data)
        if path.suffix == ".npz":
            headers = outcome(lambda: npz_headers(path), path, (DataError,))
            assert headers is None or all(isinstance(s, tuple) and isinstance(d, np.dtype) for s, d in headers.values())
        item = outcome(lambda: read_input(path), path, (ImageError,))  # an input of classify/denoise/embed
        assert item is None or (item.count() >= 1 and all(a.ndim >= 2 for a in item.arrays.values()))
        parts = outcome(lambda: load_npz(path), path, (DataError,))
        if parts is None:
            return
        assert parts["train_images"] is not None or parts["test_images"] is not None
        for split in ("train", "test"):
            images, labels = parts[f"{split}_images"], parts[f"{split}_labels"]
            if images is not None:
                assert images.dtype == torch.uint8 and tuple(images.shape[1:]) == (28, 28)
                assert labels.dtype == torch.long and labels.shape == (len(images),)


@FAST
@given(arrays)
@example(("neg.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (-1, 28, 28), }"
                     + b" " * 53 + b"\n" + X.tobytes()))
def test_any_array_file_loads_or_is_one_data_error_line(case):
    check_arrays(case[1], case[0])


# ---------------------------------------------------------------- IDX


IDX_DTYPES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
IDX = {
    "images": idx_bytes(X),
    "labels": idx_bytes(np.arange(3, dtype=np.uint8)),
    "floats": bytes([0, 0, 0x0D, 3]) + struct.pack(">3I", 3, 28, 28) + (X.astype(">f4") / 255).tobytes(),
}
IDX_MAGIC = [bytes([0, 0, t, n]) for t in IDX_DTYPES for n in (1, 3)]


@st.composite
def idx_header(draw) -> bytes:
    """Any dtype byte and number of dimensions, any sizes, a few bytes of data (or the right amount)."""
    kind = draw(st.sampled_from(IDX_DTYPES) | st.integers(0, 255))
    dims = draw(st.lists(EDGE_SIZES | st.integers(0, 4), max_size=5) | st.lists(st.just(1), min_size=60, max_size=255))
    head = bytes([0, 0, kind, draw(st.sampled_from([len(dims), len(dims) + 1, 0, 255])) & 0xFF])
    head += struct.pack(f">{len(dims)}I", *dims)
    count = int(np.prod(dims, dtype=object)) if dims else 0
    fits = count * 8 <= 4096
    body = draw(st.binary(max_size=64) | (st.just(b"\0" * (count * 8)) if fits else st.just(b"")))
    return head + body


idx_files = fuzzed(IDX, IDX_MAGIC) | idx_header().map(lambda b: ("hostile", b))


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@st.composite
def maybe_gzipped(draw) -> tuple[str, bytes]:
    """(file suffix, bytes): plain IDX bytes, those bytes gzipped, or a gzip file mutated after compression."""
    _, data = draw(idx_files)
    how = draw(st.sampled_from(["plain", "gz", "damaged gz"]))
    if how == "plain":
        return "", data
    return ".gz", gz(data) if how == "gz" else draw(mutated(gz(data)))


def check_idx(data: bytes, suffix: str = "") -> None:
    """read_idx on one IDX file (gzipped when suffix is .gz)."""
    with tempfile.TemporaryDirectory() as tmp, hostile_env():
        path = Path(tmp) / f"train-images-idx3-ubyte{suffix}"
        path.write_bytes(data)
        tensor = outcome(lambda: read_idx(path), path, (DataError,))
        if tensor is not None:
            assert isinstance(tensor, torch.Tensor) and tensor.ndim >= 1
            assert tensor.numel() * tensor.element_size() <= max(len(data), FUZZ_INFLATED)


@FAST
@given(maybe_gzipped())
@example(("", bytes([0, 0, 8, 255]) + struct.pack(">255I", *[1] * 255) + b"\0"))  # ValueError from numpy (fixed)
@example(("", bytes([0, 0, 8, 70]) + struct.pack(">70I", *[0] * 70)))
@example(("", bytes([0, 0, 8, 4]) + struct.pack(">4I", 0, 27, 2**31 - 1, 2**31 - 1)))  # ValueError (fixed)
def test_any_idx_file_reads_or_is_one_data_error_line(case):
    check_idx(case[1], case[0])


def check_idx_folder(images: bytes, labels: bytes, suffix: str = "") -> None:
    """load_idx_folder on a folder of a (fuzzed) training split."""
    with tempfile.TemporaryDirectory() as tmp, hostile_env():
        folder = Path(tmp)
        (folder / f"train-images-idx3-ubyte{suffix}").write_bytes(gz(images) if suffix else images)
        (folder / f"train-labels-idx1-ubyte{suffix}").write_bytes(gz(labels) if suffix else labels)
        bundle = outcome(lambda: load_idx_folder(folder), folder, (DataError,))
        if bundle is not None:
            assert isinstance(bundle, DataBundle) and bundle.train_images.dtype == torch.uint8
            assert bundle.train_images.shape[1:] == (28, 28) and len(bundle.train_labels) == len(bundle.train_images)


@FAST
@given(idx_files, idx_files, st.sampled_from(["", ".gz"]))
def test_any_idx_folder_loads_or_is_one_data_error_line(images, labels, suffix):
    check_idx_folder(images[1], labels[1], suffix)


# ---------------------------------------------------------------- export folders

TINY_CONFIG = load_config(ROOT / "configs" / "quick.yaml", ["model.base_ch=8", "data.source=embedded"])


def _meta() -> dict:
    from mnistmax.tasks import used_config

    cfg = used_config(TINY_CONFIG)
    return {"mnistmax_version": "0.0", "export_version": 1, "task": TINY_CONFIG.task, "network": cfg["model"]["name"],
            "arguments": {k: v for k, v in cfg["model"].items() if k != "name"}, "checkpoint": "best",
            "config": cfg, "metrics": {"psnr": 20.5}, "threshold": 0.5,
            "files": {"safetensors": "model.safetensors"}}


META = _meta()
META_TEXT = json.dumps(META, indent=1).encode()
json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                          | st.sampled_from([10**400, -10**400, float("nan"), "a\nb", "\x00"]),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                     max_size=3), max_leaves=8)
meta_changed = st.builds(
    lambda key, value: json.dumps({**META, key: value}).encode(),
    st.sampled_from([*META, "config"]), json_value)
config_changed = st.builds(
    lambda section, value: json.dumps({**META, "config": {**META["config"], section: value}}).encode(),
    st.sampled_from(["model", "task", "noise", "data", "train"]), json_value)
model_jsons = st.one_of(
    st.just(META_TEXT), mutated(META_TEXT), meta_changed, config_changed, st.binary(max_size=200),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 200_000).map(lambda n: b"[" * n), st.integers(1, 5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
)


def check_export_json(data: bytes) -> None:
    """read_export on a folder whose model.json holds `data`."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        folder.mkdir()
        (folder / "model.json").write_bytes(data)
        meta = outcome(lambda: read_export(folder), folder, (ExportError,))
        assert meta is None or (isinstance(meta, dict) and isinstance(meta["config"], dict))


@FAST
@given(model_jsons)
@example(b"[" * 100_000)  # RecursionError (fixed)
@example(json.dumps({**META, "threshold": 10**400}).encode())  # OverflowError from math.isfinite (fixed)
@example(json.dumps({**META, "export_version": 2, "mnistmax_version": "1\nerror: fake"}).encode())  # two lines
@example(json.dumps({**META, "config": {**META["config"], "model": ["unet_dae"]}}).encode())  # AttributeError
def test_any_model_json_reads_or_is_one_export_error_line(data):
    check_export_json(data)


def _weights() -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in build_task(TINY_CONFIG).net.state_dict().items()})


WEIGHTS = _weights()


@st.composite
def safetensors_files(draw) -> bytes:
    """The real weights mutated (the 8-byte header length, the JSON header, the data), or a forged header."""
    length = struct.unpack_from("<Q", WEIGHTS)[0]
    where = draw(st.sampled_from(["any", "header", "forged"]))
    if where == "any":
        return draw(mutated(WEIGHTS[:length + 8 + 256]) | st.binary(max_size=64))
    if where == "header":
        header = draw(mutated(WEIGHTS[8:8 + length]))
        return struct.pack("<Q", len(header)) + header + WEIGHTS[8 + length:]
    header = json.dumps({draw(st.sampled_from(list(build_task(TINY_CONFIG).net.state_dict())[:3] + ["x"])): {
        "dtype": draw(st.sampled_from(["F32", "F16", "I64", "BOOL", "F8_E4M3", "X"])),
        "shape": draw(st.lists(DIM, max_size=4)),
        "data_offsets": draw(st.lists(st.integers(-1, 2**64 + 1) | st.sampled_from([0, 16, 2**63]), min_size=2,
                                      max_size=3))}}).encode()
    return struct.pack("<Q", draw(st.sampled_from([len(header), len(header) + 7, 2**63, 0]))) + header + \
        draw(st.binary(max_size=64))


def check_export_weights(data: bytes) -> None:
    """load_export on a good model.json whose model.safetensors holds `data`."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        folder.mkdir()
        (folder / "model.json").write_bytes(META_TEXT)
        (folder / "model.safetensors").write_bytes(data)
        loaded = outcome(lambda: load_export(folder), folder, (ExportError,))
        assert loaded is None or loaded[2] == 0.5


@FAST
@given(safetensors_files())
@example(WEIGHTS)
def test_any_safetensors_file_loads_or_is_one_export_error_line(data):
    check_export_weights(data)


# ---------------------------------------------------------------- YAML configs

CONFIGS = {p.name: p.read_bytes() for p in sorted((ROOT / "configs").glob("*.yaml"))}
SECTIONS = {name: list(field.annotation.model_fields) for name, field in RunConfig.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, RunConfig.__base__)}
yaml_key = st.sampled_from(sorted({*RunConfig.model_fields, *(k for ks in SECTIONS.values() for k in ks),
                                   "extends", "preset", "<<"})) | st.text(max_size=5)
yaml_leaf = (st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats() | st.text(max_size=10)
             | st.sampled_from(["quick", "mnist", "gaussian", "unet_dae", "classify", "2001-13-45", "embedded"]))
yaml_value = st.recursive(yaml_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(yaml_key, inner,
                                                                                                max_size=3),
                          max_leaves=10)
structured_yaml = st.dictionaries(yaml_key, yaml_value, max_size=5).map(
    lambda d: yaml.safe_dump(d, default_flow_style=None, allow_unicode=True).encode())
YAML_SNIPPETS = [
    b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",  # nesting deeper than Python's stack
    b"train: &t {lr: 0.001, x: *t}\n", b"a: !!python/object:os.system {}\n", b"\xef\xbb\xbftask: denoise\n",
    b"\xff\xfe t\x00a\x00", b"noise: {preset: gaussian}\n", b"extends: " + b"a" * 5000 + b"\n",
    b'extends: "a\\0b"\n', b"extends: [quick]\n", b"extends: .\n", b"extends: /\n", b"extends: c.yaml\n",
    b"train: {epochs: " + b"9" * 5000 + b"}\n", b"? [a, b]\n: 1\n", b"train: !!binary aGVsbG8=\n",
    b"a: &a [1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
    b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\n"
    b"f: &f [*e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f]\n",  # 16 million leaves
]
yaml_files = st.one_of(
    st.sampled_from(sorted(CONFIGS)).map(CONFIGS.get), st.sampled_from(sorted(CONFIGS)).flatmap(
        lambda n: mutated(CONFIGS[n])), structured_yaml, structured_yaml.flatmap(mutated), st.binary(max_size=200),
    st.sampled_from(YAML_SNIPPETS), st.sampled_from(YAML_SNIPPETS).flatmap(mutated),
    st.integers(1, 3000).map(lambda n: b"a:" + b" {b:" * n + b" 1" + b"}" * n),
)


def check_yaml(data: bytes) -> None:
    """read_yaml_mapping and load_config on a config file holding `data` (it may extend the shipped recipes)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_bytes(data)
        # not traced: tracemalloc makes PyYAML's deep recursion 70 times slower (minutes for 10 kB); what a
        # config can expand to is capped by count (config.load.MAX_VALUES)
        raw = outcome(lambda: read_yaml_mapping(path), path, (ConfigError,), traced=False)
        assert raw is None or isinstance(raw, dict)
        cfg = outcome(lambda: load_config(path, warn=lambda _: None), path, (ConfigError,), traced=False)
        assert cfg is None or isinstance(cfg, RunConfig)


@FAST
@given(yaml_files)
@example(YAML_SNIPPETS[0])  # RecursionError (fixed)
@example(b"noise: {preset: gaussian, sigma: 0.2}\nextends: quick\n")
@example(b"extends: " + b"a" * 5000 + b"\n")  # OSError: file name too long (fixed)
@example(b'extends: "a\\0b"\n')  # ValueError: embedded null byte (fixed)
@example(YAML_SNIPPETS[-1])  # hours of walking the aliases (fixed)
@example(b'{"\\r"}')  # a key with a line break: a two-line message (fixed)
def test_any_config_file_reads_or_is_one_config_error_line(data):
    check_yaml(data)


# ---------------------------------------------------------------- the folder source


def check_folder(data: bytes, name: str = "x.png") -> None:
    """load_folder on class subfolders a/ (a good picture) and b/ (a good one and the fuzzed `data`)."""
    with tempfile.TemporaryDirectory() as tmp, hostile_env(Path(tmp) / "cache"):
        root = Path(tmp) / "mine"
        for sub in ("a", "b"):
            (root / sub).mkdir(parents=True)
            (root / sub / "good.png").write_bytes(PICTURES["l.png"])
        (root / "b" / f"fuzzed{Path(name).suffix}").write_bytes(data)
        parts = outcome(lambda: load_folder(root), root, (DataError,))
        if parts is not None:
            assert parts["classes"] == ["a", "b"] and parts["train_images"].shape == (3, 28, 28)
            assert parts["train_labels"].tolist() == [0, 1, 1]


@FAST
@given(pictures)
@example(("tiny.png", encoded(Image.new("L", (1, 1)), "PNG")))
def test_a_picture_folder_with_any_picture_loads_or_is_one_data_error_line(case):
    check_folder(case[1], case[0])


# ---------------------------------------------------------------- regressions found by the fuzzing


def test_a_picture_too_small_to_be_a_digit_names_its_file(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("L", (1, 1)).save(path)
    with pytest.raises(ImageError, match=rf"^{path}: image too small \(1x1\)$"):
        picture_to_digit(path)
    (tmp_path / "mine" / "a").mkdir(parents=True)
    path.rename(tmp_path / "mine" / "a" / "dot.png")
    with hostile_env(tmp_path / "cache"), pytest.raises(DataError, match=r"the first: .*mine/a/dot.png: image too"):
        load_folder(tmp_path / "mine")


def test_an_idx_file_with_more_dimensions_than_numpy_allows_is_one_line(tmp_path):
    path = tmp_path / "many-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 70]) + struct.pack(">70I", *[1] * 70) + b"\0")
    with pytest.raises(DataError, match=rf"^{path} declares 70 dimensions; .* at most 32"):
        read_idx(path)


def npy_with_header(text: bytes, version: int = 1, declared: int | None = None) -> bytes:
    size = len(text) if declared is None else declared
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H" if version == 1 else "<I", size) + text


def test_an_empty_idx_file_whose_other_sizes_numpy_cannot_hold_is_one_line(tmp_path):
    path = tmp_path / "empty-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 4]) + struct.pack(">4I", 0, 27, 2**31 - 1, 2**31 - 1))  # no data to read
    with pytest.raises(DataError, match=r"declares shape \(0, 27, 2147483647, 2147483647\), which numpy cannot hold"):
        read_idx(path)


@pytest.mark.parametrize("shape", ["(-1, 28, 28)", "(-3, -28, 28)"])
def test_an_npy_header_with_negative_sizes_is_one_line(tmp_path, shape):
    path = tmp_path / "negative.npy"
    header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}".encode()
    path.write_bytes(npy_with_header(header + b" " * (-(len(header) + 11) % 64) + b"\n") + X.tobytes())
    with pytest.raises(DataError, match=rf"negative.npy declares shape \{shape[:-1]}\): sizes cannot be negative"):
        load_npz(path)  # numpy.memmap raised OverflowError (a negative length), or ValueError


def test_an_npy_file_of_no_images_loads(tmp_path):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 28, 28), np.uint8))
    assert load_npz(path)["train_images"].shape == (0, 28, 28)


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_an_unbalanced_or_oversized_npy_header_is_one_line_without_allocating(tmp_path, suffix):
    unbalanced = npy_with_header(b"{'descr': '|u1', 'fortran_order': False, 'shape': (3,28,28, }" + b" " * 53 + b"\n")
    huge = npy_with_header(b"", version=2, declared=2**32 - 1)  # numpy read 4 GiB of header before checking it
    for name, data in (("unbalanced", unbalanced), ("huge", huge)):  # tokenize.TokenError, then a 4 GiB read
        path = tmp_path / f"{name}{suffix}"
        if suffix == ".npz":
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("x_train.npy", data)
        else:
            path.write_bytes(data)
        assert outcome(lambda: load_npz(path), path, (DataError,)) is None


@pytest.mark.parametrize("damage", ["encrypted", "unknown method", "bad deflate data"])
def test_an_npz_member_zipfile_cannot_open_is_one_line(tmp_path, damage):
    path = tmp_path / "damaged.npz"
    path.write_bytes(npz_bytes(True, x_train=X))
    data = bytearray(path.read_bytes())
    for at in (0, data.rfind(b"PK\x01\x02")):  # the local header and the central directory's entry
        header = at + (6 if at == 0 else 8)  # the general-purpose flags, then the compression method
        if damage == "encrypted":
            data[header] |= 1
        elif damage == "unknown method":
            data[header + 2] = 99
    if damage == "bad deflate data":
        start = 30 + struct.unpack_from("<HH", data, 26)[0] + struct.unpack_from("<HH", data, 26)[1]
        data[start:start + 20] = b"\xff" * 20  # zlib.error while its header is read
    path.write_bytes(bytes(data))
    assert outcome(lambda: load_npz(path), path, (DataError,)) is None


def test_a_model_json_nested_too_deeply_or_with_a_huge_threshold_is_one_line(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    for text, words in ((b"[" * 100_000, "nest too deeply"),  # RecursionError
                        (json.dumps({**META, "threshold": 10**400}).encode(), "key 'threshold' is 1000"),  # Overflow
                        (json.dumps({**META, "config": {"a": json.loads("[" * 500 + "]" * 500)}}).encode(),
                         "nests deeper than 32 levels")):
        (folder / "model.json").write_bytes(text)
        with pytest.raises(ExportError, match="model.json") as caught:
            read_export(folder)
        assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_model_json_version_with_a_newline_stays_one_line(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({**META, "export_version": 2, "mnistmax_version": "1\nerror: x"}))
    with pytest.raises(ExportError, match=r"exported by mnistmax '1\\nerror: x' \(export layout 2\)"):
        read_export(folder)


@pytest.mark.parametrize("model", [["unet_dae"], {"name": ["unet_dae"]}, "unet_dae"])
def test_a_model_json_whose_config_model_is_not_an_object_is_one_line(tmp_path, model):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({**META, "config": {**META["config"], "model": model}}))
    (folder / "model.safetensors").write_bytes(WEIGHTS)  # read_run_config raised AttributeError / TypeError
    with pytest.raises(ExportError, match="key 'config.model' is"):
        load_export(folder)


@pytest.mark.parametrize("text, words", [
    (YAML_SNIPPETS[0], "nests its values too deeply"),  # RecursionError
    (b"a:" + b" {b:" * 40 + b" 1" + b"}" * 40 + b"\n", "nests deeper than 32 levels"),
    (b"extends: " + b"a" * 5000 + b"\n", "is not a config file name (File name too long)"),  # OSError
    (b'extends: "a\\0b"\n', "but config file"),  # ValueError: embedded null byte
    (b"extends: /\n", "is not a config file name"),  # ValueError: an empty name
    (YAML_SNIPPETS[-1], "holds more than 100,000 values"),  # an hour in check_acyclic
    (b"\xff\xfe t\x00a\x00", "is not UTF-8 text"),
    (b'train: {"lr\\r\\nerror: x": 1}\n', "key 'train.lr\\r\\nerror: x' holds a line break"),  # two lines
])
def test_hostile_config_files_are_one_line_at_once(tmp_path, text, words):
    import time

    path = tmp_path / "c.yaml"
    path.write_bytes(text)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert words in str(caught.value) and str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert time.perf_counter() - started < 5


def test_a_preset_that_is_not_a_name_is_passed_to_validation(tmp_path):
    from mnistmax.config.load import without_preset_keys

    base = {"noise": {"sigma": 0.3}}
    assert without_preset_keys(base, {"noise": {"preset": [1]}}) is base  # TypeError: unhashable type


@pytest.mark.parametrize("text", [b"noise: {preset: [1]}\n", b"noise: {preset: {a: 1}}\n"])
def test_a_preset_that_is_not_a_name_is_one_config_error_line(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "noise.preset" in str(caught.value) and "\n" not in str(caught.value)


# ---------------------------------------------------------------- PIL images given to the Python API


def test_a_pil_image_is_refused_above_the_pixel_cap_before_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTMAX_MAX_PIXELS", "500")
    small = Image.new("L", (30, 20))
    ImageDraw.Draw(small).line([(10, 3), (18, 16)], fill=255, width=3)
    limit = "is over the 500-pixel limit (set MNISTMAX_MAX_PIXELS to raise it)"
    with pytest.raises(ImageError) as caught:
        to_batch(small)
    assert str(caught.value) == f"PIL image: 30 x 20 pixels {limit}"
    path = tmp_path / "big.png"
    small.save(path)
    with Image.open(path) as lazy, pytest.raises(ImageError) as caught:
        picture_to_digit(lazy)
    assert str(caught.value) == f"PIL image of {path}: 30 x 20 pixels {limit}"
    monkeypatch.setenv("MNISTMAX_MAX_PIXELS", "600")
    assert to_batch(Image.open(path)).images.shape == (1, 1, 28, 28)


def test_a_pil_image_of_a_huge_declared_picture_is_refused_unloaded(tmp_path, monkeypatch):
    import warnings

    monkeypatch.delenv("MNISTMAX_MAX_PIXELS", raising=False)
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(10_000, 10_000, 8, 0, 0))  # 100 million pixels: Pillow only warns on open
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        lazy = Image.open(path)
    with pytest.raises(ImageError, match=r"PIL image of .*bomb.png: 10,000 x 10,000 pixels is over the 50,000,000"):
        to_batch([lazy])


def test_a_pil_image_is_turned_upright_by_its_exif_orientation(tmp_path):
    picture = Image.new("L", (60, 40), 255)
    draw = ImageDraw.Draw(picture)
    draw.rectangle([5, 5, 12, 34], fill=0)
    draw.rectangle([5, 28, 30, 34], fill=0)  # an L
    exif = Image.Exif()
    exif[0x0112] = 6  # shown after turning 90 degrees clockwise
    stored = picture.transpose(Image.Transpose.ROTATE_90)
    stored.save(tmp_path / "phone.png", exif=exif.tobytes())
    upright = picture_to_digit(picture)
    with Image.open(tmp_path / "phone.png") as phone:
        assert phone.size == (40, 60)
        assert np.array_equal(picture_to_digit(phone), upright)  # was read sideways
    assert np.array_equal(picture_to_digit(tmp_path / "phone.png"), upright)  # as the file is
    assert np.abs(to_mnist(np.asarray(stored)).astype(int) - upright.astype(int)).mean() > 10


def test_a_damaged_lazily_opened_pil_image_is_one_line(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(PICTURES["l.png"][:60])
    with Image.open(path) as lazy, pytest.raises(ImageError, match=rf"^PIL image of {path}: its pixels cannot be read"):
        picture_to_digit(lazy)


# ---------------------------------------------------------------- uncompressed arrays: the same size cap


def test_an_uncompressed_npy_over_the_inflated_cap_is_refused_before_loading(tmp_path, monkeypatch):
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((200, 28, 28), np.uint8))  # 156,800 bytes
    monkeypatch.setenv("MNISTMAX_MAX_INFLATED_BYTES", "100000")
    with pytest.raises(DataError, match=r"big.npy declares shape \(200, 28, 28\) of uint8 \(156800 bytes\), more than "
                                        r"the 100000-byte cap .*MNISTMAX_MAX_INFLATED_BYTES"):
        load_npz(path)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match="holds 156799 bytes of data: truncated"):
        load_npz(path)
    monkeypatch.setenv("MNISTMAX_MAX_INFLATED_BYTES", "200000")
    np.save(path, np.zeros((200, 28, 28), np.uint8))
    assert load_npz(path)["train_images"].shape == (200, 28, 28)


def test_an_uncompressed_idx_file_over_the_inflated_cap_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((200, 28, 28), np.uint8)))
    monkeypatch.setenv("MNISTMAX_MAX_INFLATED_BYTES", "100000")
    with pytest.raises(DataError, match=r"declares shape \(200, 28, 28\) \(156800 bytes\), more than the 100000-byte "
                                        r"cap on what is loaded \(raise it with MNISTMAX_MAX_INFLATED_BYTES\)"):
        read_idx(path)
    monkeypatch.setenv("MNISTMAX_MAX_INFLATED_BYTES", "200000")
    assert read_idx(path).shape == (200, 28, 28)


def test_a_sparse_idx_file_declaring_gigabytes_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "sparse-idx3-ubyte"
    dims = (3_000_000, 28, 28)  # 2.35 GB of zeros, a hole on disk
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", *dims))
        f.truncate(16 + int(np.prod(dims)))
    with hostile_env(), pytest.raises(DataError, match="more than the 4194304-byte cap on what is loaded"):
        outcome(lambda: read_idx(path), path, ())
