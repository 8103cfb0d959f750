"""Hostile picture files (issue 33): every reader of users' pictures goes through `read_image`, which
refuses a picture declaring too many pixels before decoding it ($MNISTMAX_MAX_PIXELS), Pillow's
decompression bombs, text chunks that inflate past Pillow's limit and damaged files, each with one
line naming the file (exit code 2, nothing written); and reads EXIF-rotated photos upright, dark ink
on a transparent background as a digit, and float / 32-bit TIFFs by their own range."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from mnistmax.data.folder import load_folder
from mnistmax.data.inputs import ImageError, picture_to_digit, read_image
from mnistmax.data.preprocess import to_mnist
from mnistmax.errors import DataError
from tests.helpers import invoke, one_error_line

LIMIT = "is over the 50,000,000-pixel limit (set MNISTMAX_MAX_PIXELS to raise it)"


@pytest.fixture(autouse=True)
def default_cap(monkeypatch, tmp_path):
    monkeypatch.delenv("MNISTMAX_MAX_PIXELS", raising=False)
    monkeypatch.setenv("MNISTMAX_CACHE", str(tmp_path / "cache"))


def declared_png(path, width: int, height: int):
    """A tiny valid PNG whose IHDR then declares width x height (its CRC made right again)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def seven(embedded) -> np.ndarray:
    """A real, asymmetric MNIST digit (a 7), uint8 light ink on black."""
    return embedded.train_images[int((embedded.train_labels == 7).nonzero()[0])].numpy()


def on_paper(digit: np.ndarray, size: int = 112) -> Image.Image:
    """Dark ink on light paper, scaled up: what a photo or a scan gives."""
    return Image.fromarray(255 - digit).resize((size, size), Image.Resampling.BILINEAR)


def close(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def refused(tmp_path, picture):
    """classify and denoise on a hostile picture: one error line each, exit 2, nothing written."""
    lines = []
    for args in (["classify", "zoo:classifier", picture],
                 ["denoise", "zoo:mnist-unet", picture, "-o", tmp_path / "out"]):
        result = invoke(*args, "--output-dir", tmp_path / "root")
        assert result.exit_code == 2, result.output
        lines.append(one_error_line(result))
        assert not (tmp_path / "out").exists()  # (the zoo entry itself is unpacked under root/zoo first)
    assert lines[0] == lines[1]
    return lines[0]


def test_a_header_declaring_40000_by_40000_pixels_is_one_line_before_decoding(tmp_path):
    bomb = declared_png(tmp_path / "bomb.png", 40_000, 40_000)
    assert bomb.stat().st_size < 100
    assert refused(tmp_path, bomb) == f"error: {bomb}: 1,600,000,000 pixels {LIMIT}"


def test_the_cap_is_checked_from_the_header_and_raised_by_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (30, 20)).save(path)
    monkeypatch.setenv("MNISTMAX_MAX_PIXELS", "500")
    with pytest.raises(ImageError) as caught:
        read_image(path)
    assert str(caught.value) == f"{path}: 30 x 20 pixels is over the 500-pixel limit " \
                                "(set MNISTMAX_MAX_PIXELS to raise it)"
    monkeypatch.setenv("MNISTMAX_MAX_PIXELS", "600")
    assert read_image(path).shape == (20, 30)


def test_raising_the_cap_past_pillows_own_limit_works_and_leaves_pillow_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (30, 20)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 600 pixels: a bomb error by Pillow's own limit
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    monkeypatch.setenv("MNISTMAX_MAX_PIXELS", "1000")  # the cap is ours: Pillow follows it within the read
    assert read_image(path).shape == (20, 30)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_a_bad_cap_value_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "d.png"
    Image.new("L", (30, 30)).save(path)
    monkeypatch.setenv("MNISTMAX_MAX_PIXELS", "lots")
    result = invoke("classify", "zoo:classifier", path, "--output-dir", tmp_path / "root")
    assert result.exit_code == 2
    assert "MNISTMAX_MAX_PIXELS='lots'" in one_error_line(result)


def test_a_huge_compressed_text_chunk_is_one_line(tmp_path, embedded):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "0" * 20_000_000, zip=True)
    path = tmp_path / "ztxt.png"
    on_paper(seven(embedded)).save(path, pnginfo=info)
    assert path.stat().st_size < 200_000 and ImageFile.LOAD_TRUNCATED_IMAGES is False
    line = refused(tmp_path, path)
    assert line.startswith(f"error: {path}: not an image file PIL can read (") and "too large" in line


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_files_are_one_line(tmp_path, embedded, damage):
    path = tmp_path / "bad.png"
    on_paper(seven(embedded)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x89PNG not really" * 10)
    assert refused(tmp_path, path).startswith(f"error: {path}: not an image file PIL can read (")


@pytest.mark.parametrize("orientation, stored_turn", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_an_exif_rotated_photo_is_read_upright(tmp_path, embedded, orientation, stored_turn):
    upright = on_paper(seven(embedded)).convert("RGB")
    upright.save(tmp_path / "upright.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright.transpose(stored_turn).save(tmp_path / "phone.jpg", quality=95, exif=exif.tobytes())
    reference = picture_to_digit(tmp_path / "upright.jpg")
    read = picture_to_digit(tmp_path / "phone.jpg")
    with Image.open(tmp_path / "phone.jpg") as raw:
        sideways = to_mnist(np.asarray(raw.convert("RGB")))
    assert close(read, reference) < 3 < close(sideways, reference)


def test_dark_ink_on_a_transparent_palette_background_is_a_digit(tmp_path, embedded):
    digit = seven(embedded)
    ink = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.NEAREST)) > 127
    picture = Image.fromarray(ink.astype(np.uint8), mode="P")
    picture.putpalette([0, 0, 0, 30, 30, 30] + [0, 0, 0] * 254)  # index 0: the background, black but transparent
    path = tmp_path / "sticker.png"
    picture.save(path, transparency=0)
    assert Image.open(path).info.get("transparency") == 0
    reference = to_mnist(np.where(ink, 30, 255).astype(np.uint8))  # the same ink on white paper
    read = picture_to_digit(path)
    assert read.max() > 200 and close(read, reference) < 2
    result = invoke("classify", "zoo:classifier", path, "--output-dir", tmp_path / "root")
    assert result.exit_code == 0, result.output


def test_dark_ink_on_transparent_la_is_a_digit(tmp_path, embedded):
    digit = seven(embedded)
    alpha = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BILINEAR))
    la = np.stack([np.zeros_like(alpha), alpha], axis=-1)
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    read = picture_to_digit(path)
    assert close(read, to_mnist(255 - alpha)) < 2


def test_a_float_tiff_in_0_1_is_read_by_its_values(tmp_path, embedded):
    paper = np.asarray(on_paper(seven(embedded)), dtype=np.float32) / 255.0
    path = tmp_path / "float.tif"
    Image.fromarray(paper, mode="F").save(path)
    a = read_image(path)
    assert a.dtype == np.float32 and np.allclose(a, paper)
    reference = to_mnist(np.round(paper * 255).astype(np.uint8))
    assert close(picture_to_digit(path), reference) < 1


@pytest.mark.parametrize("mode, scale, offset", [("F", 1000.0, -200.0), ("I", 40_000.0, -70_000.0), ("I", 1.0, 0.0)])
def test_other_float_and_integer_ranges_are_scaled_by_their_own_range(tmp_path, embedded, mode, scale, offset):
    paper = np.asarray(on_paper(seven(embedded)), dtype=np.float64) / 255.0
    values = paper * scale * (255 if mode == "I" and scale == 1.0 else 1) + offset
    path = tmp_path / "wide.tif"
    Image.fromarray(values.astype(np.float32 if mode == "F" else np.int32), mode=mode).save(path)
    a = read_image(path)
    assert a.dtype == np.float32 and a.min() == 0 and a.max() == 1  # scaled, never clipped to black
    reference = to_mnist(np.round(paper * 255).astype(np.uint8))
    assert close(picture_to_digit(path), reference) < 2


def test_the_folder_source_names_the_bomb_in_one_data_error_line(tmp_path, embedded):
    root = tmp_path / "mine"
    (root / "a").mkdir(parents=True)
    on_paper(seven(embedded)).save(root / "a" / "fine.png")
    declared_png(root / "a" / "bomb.png", 40_000, 40_000)
    with pytest.raises(DataError) as caught:
        load_folder(root)
    message = str(caught.value)
    assert "\n" not in message and f"{root / 'a' / 'bomb.png'}: 1,600,000,000 pixels {LIMIT}" in message
    assert not any(root.rglob("*.npz"))
