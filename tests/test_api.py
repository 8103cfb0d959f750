"""The Python API: mnistmax.load and Model's methods, for every task kind and input kind."""

import numpy as np
import pytest
import torch
from PIL import Image

import mnistmax
from mnistmax.api import CapabilityError, to_batch
from mnistmax.data.preprocess import ImageError
from mnistmax.data.sources import load_embedded
from mnistmax.errors import RunError
from mnistmax.tasks import build_task, load_config
from tests.helpers import ROOT, TINY_ANY, fake_run

RECIPES = {  # task -> a recipe of that task, shrunk
    "denoise": ("quick.yaml", ["model.base_ch=8"]),
    "autoencoder": ("models/conv_ae.yaml", []),
    "vae": ("models/vae.yaml", []),
    "contrastive": ("models/simclr.yaml", []),
    "classify": ("models/classifier.yaml", []),
}


def untrained_run(tmp_path, task: str):
    path, extra = RECIPES[task]
    cfg = load_config(ROOT / "configs" / path, [*TINY_ANY, *extra])
    torch.manual_seed(0)
    return fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)


@pytest.fixture(scope="module")
def digits():
    return load_embedded().train_images[:6]  # (6, 28, 28) uint8


@pytest.fixture(scope="module")
def denoiser(tmp_path_factory):
    return mnistmax.load(untrained_run(tmp_path_factory.mktemp("dn"), "denoise"))


def test_load_by_directory_name_and_checkpoint(tmp_path, digits):
    run = untrained_run(tmp_path, "denoise")
    by_dir = mnistmax.load(run)
    by_ckpt = mnistmax.load(run / "checkpoints" / "best.ckpt")
    x = digits.float() / 255
    assert torch.equal(by_dir.denoise(x), by_ckpt.denoise(x))
    assert by_dir.capabilities == {"denoise", "reconstruct"}
    assert "unet_dae" in repr(by_dir)
    with pytest.raises(RunError, match="not found"):
        mnistmax.load(tmp_path / "nothing")


@pytest.mark.parametrize("shape", [(28, 28), (6, 28, 28), (6, 1, 28, 28)])
def test_outputs_keep_kind_dtype_and_shape(denoiser, digits, shape):
    n = 1 if len(shape) == 2 else 6
    u8 = digits[:n].reshape(shape)
    for x in (u8, u8.float() / 255, u8.numpy(), (u8.numpy() / 255).astype(np.float32), u8.double() / 255):
        y = denoiser.denoise(x)
        assert type(y) is type(x) and tuple(y.shape) == shape and y.dtype == x.dtype
        assert float(y.min()) >= 0 and float(y.max()) <= (255 if x.dtype in (torch.uint8, np.uint8) else 1)


def test_uint8_and_float_inputs_give_the_same_result(denoiser, digits):
    a = denoiser.denoise(digits.float() / 255)
    b = denoiser.denoise(digits)
    assert torch.allclose(b.float(), torch.round(a * 255), atol=1)


def test_chunking_does_not_change_results(tmp_path, digits):
    run = untrained_run(tmp_path, "denoise")
    x = digits.float() / 255
    assert torch.allclose(mnistmax.load(run, batch_size=2).denoise(x), mnistmax.load(run, batch_size=1000).denoise(x),
                          atol=1e-6)


def test_pil_images_files_folders_and_lists(denoiser, digits, tmp_path):
    paths = []
    for i, d in enumerate(digits[:3].numpy()):
        paths.append(tmp_path / f"d{i}.png")
        Image.fromarray(d).save(paths[-1])
    one = denoiser.denoise(Image.fromarray(digits[0].numpy()))
    assert isinstance(one, Image.Image) and one.size == (28, 28)
    assert isinstance(denoiser.denoise(paths[0]), Image.Image)
    listed = denoiser.denoise(paths)
    folder = denoiser.denoise(tmp_path)
    assert len(listed) == len(folder) == 3
    assert [np.asarray(a).tolist() for a in listed] == [np.asarray(b).tolist() for b in folder]
    # a 28x28 MNIST-form file is preprocessed back to itself (to_mnist keeps MNIST framing)
    raw = denoiser.denoise(paths[0], preprocess=False)
    assert np.abs(np.asarray(raw, float) - np.asarray(one, float)).mean() < 8


def test_large_images_need_preprocessing(denoiser, digits):
    big = np.kron(digits[0].numpy(), np.ones((3, 3), np.uint8))  # 84x84
    with pytest.raises(ImageError, match="expected .*preprocess=True"):
        denoiser.denoise(big)
    y = denoiser.denoise(big, preprocess=True)
    assert y.shape == (28, 28) and y.dtype == np.uint8


@pytest.mark.parametrize("bad, message", [
    (np.full((2, 28, 28), np.nan, np.float32), "NaN"),
    (np.full((2, 28, 28), 2.0, np.float32), r"\[0, 1\]"),
    (np.zeros((2, 30, 28), np.uint8), "expected"),
    (np.zeros((0, 28, 28), np.uint8), "empty"),
    ("no/such/file.png", "no such file"),
    (3.5, "unsupported input type"),
    ([], "empty list"),
])
def test_bad_inputs_raise_one_clear_error(denoiser, bad, message):
    with pytest.raises(ImageError, match=message):
        denoiser.denoise(bad)


def test_non_image_and_empty_files(denoiser, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="not an image file"):
        denoiser.denoise(tmp_path / "notes.png")
    with pytest.raises(ImageError, match="empty file"):
        denoiser.denoise(tmp_path / "empty.png")


def test_sixteen_bit_images_are_read_at_full_depth(denoiser, digits, tmp_path):
    path = tmp_path / "d16.png"
    Image.fromarray(digits[0].numpy().astype(np.uint16) * 257).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I")
    y16 = np.asarray(denoiser.denoise(path), float)
    y8 = np.asarray(denoiser.denoise(Image.fromarray(digits[0].numpy())), float)
    assert np.abs(y16 - y8).max() <= 2


def test_a_method_the_task_lacks_says_which_tasks_have_it(denoiser, digits):
    with pytest.raises(CapabilityError, match=r"embed\(\) needs a model whose task can embed \(contrastive\)"):
        denoiser.embed(digits)
    with pytest.raises(CapabilityError, match="classify"):
        denoiser.classify(digits)


def test_autoencoder_encode_decode_reconstruct_sample(tmp_path, digits):
    m = mnistmax.load(untrained_run(tmp_path, "autoencoder"))
    z = m.encode(digits.numpy())
    assert isinstance(z, np.ndarray) and z.shape == (6, 12) and z.dtype == np.float32
    assert m.encode(digits[0]).shape == (12,)
    images = m.decode(z)
    assert images.shape == (6, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert m.decode(torch.from_numpy(z[0])).shape == (1, 28, 28)
    rec = m.reconstruct(digits)
    assert rec.shape == (6, 28, 28) and rec.dtype == torch.uint8
    s = m.sample(5, seed=3)
    assert s.shape == (5, 1, 28, 28) and torch.equal(s, m.sample(5, seed=3)) and not torch.equal(s, m.sample(5, seed=4))
    with pytest.raises(ImageError, match=r"expected \(B, 12\)"):
        m.decode(np.zeros((2, 5), np.float32))


def test_vae_samples_from_the_prior(tmp_path):
    m = mnistmax.load(untrained_run(tmp_path, "vae"))
    assert "sample" in m.capabilities
    assert m.sample(4).shape == (4, 1, 28, 28)


def test_encoder_embeddings(tmp_path, digits):
    m = mnistmax.load(untrained_run(tmp_path, "contrastive"))
    z = m.embed(digits)
    assert isinstance(z, torch.Tensor) and z.shape == (6, 128)
    assert m.embed(digits[0].numpy()).shape == (128,)
    with pytest.raises(CapabilityError, match="denoise"):
        m.denoise(digits)


def test_classifier_digits_and_probabilities(tmp_path, digits):
    m = mnistmax.load(untrained_run(tmp_path, "classify"))
    c = m.classify(digits.numpy())
    assert c.digits.shape == (6,) and c.all.shape == (6, 10)
    assert np.allclose(c.all.sum(1), 1, atol=1e-5)
    assert np.array_equal(c.digits, c.all.argmax(1)) and np.allclose(c.probabilities, c.all.max(1))
    single = m.classify(digits[0])
    assert single.digits.ndim == 0 and int(single.digits) == int(c.digits[0])


def test_to_batch_accepts_integer_arrays_in_range():
    b = to_batch(np.full((2, 28, 28), 255, np.int64))
    assert b.images.shape == (2, 1, 28, 28) and float(b.images.max()) == 1.0
    with pytest.raises(ImageError, match="unsupported dtype"):
        to_batch(np.full((2, 28, 28), 300, np.int64))
