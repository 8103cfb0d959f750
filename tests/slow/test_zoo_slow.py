"""The zoo as a user gets it: the wheel carries every entry (within 10 MB), and from a folder
outside the checkout, with the installed wheel only, `zoo list`, `denoise zoo:...`, `classify
zoo:...` and `mnistmax.load("zoo:...")` work; every entry that make test does not re-evaluate
reproduces its numbers, the Fashion-MNIST ones on the official test set (the dataset is installed
from Debian when missing; about 10 minutes in all)."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from mnistmax.zoo import ENTRIES, FASHION, built
from mnistmax.zoo.build import check_entry
from tests.helpers import ROOT
from tests.test_zoo import CHECKED_HERE

pytestmark = pytest.mark.slow
FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")


def test_the_wheel_carries_the_zoo_and_it_works_outside_the_checkout(tmp_path, embedded):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel")], check=True, cwd=tmp_path)
    (wheel,) = (tmp_path / "wheel").glob("mnistmax-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in built():
        assert {f"mnistmax/zoo/{name}/{f}" for f in ("model.json", "model.safetensors", "eval.json", "README.md")} <= \
            set(names)
    assert wheel.stat().st_size < 10e6
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True)
    away = tmp_path / "elsewhere"
    away.mkdir()
    Image.fromarray(255 - embedded.train_images[7].numpy()).resize((90, 90)).save(away / "my-digit.png")
    env = {**os.environ, "PYTHONPATH": str(site)}
    cli = [sys.executable, "-m", "mnistmax"]

    def run(*args):
        done = subprocess.run([*cli, *args], cwd=away, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "mnist-unet" in run("zoo", "list")
    run("denoise", "zoo:mnist-unet", "my-digit.png", "-o", "out")
    assert list((away / "out").glob("*.png"))
    assert "my-digit.png" in run("classify", "zoo:classifier", "my-digit.png")
    loaded = subprocess.run([sys.executable, "-c", "import mnistmax; m = mnistmax.load('zoo:vae'); "
                             "print(m.__class__.__module__, m.sample(4).shape)"], cwd=away, env=env,
                            capture_output=True, text=True)
    assert loaded.returncode == 0 and str(site) in subprocess.run(
        [sys.executable, "-c", "import mnistmax; print(mnistmax.__file__)"], cwd=away, env=env, capture_output=True,
        text=True).stdout, loaded.stderr
    assert "torch.Size([4, 1, 28, 28])" in loaded.stdout
    assert (away / "outputs" / "zoo").is_dir() and not (site / "mnistmax" / "zoo" / "outputs").exists()


def fashion_installed() -> bool:
    if (FASHION_ROOT / "t10k-images-idx3-ubyte.gz").is_file():
        return True
    if shutil.which("apt-get") is None:
        return False
    subprocess.run(["apt-get", "install", "-y", "-q", "dataset-fashion-mnist"], capture_output=True)
    return (FASHION_ROOT / "t10k-images-idx3-ubyte.gz").is_file()


@pytest.mark.parametrize("name", [n for n in built() if n not in CHECKED_HERE])
def test_every_other_entry_reproduces_its_numbers(name, tmp_path):
    if ENTRIES[name]["dataset"] == FASHION["dataset"] and not fashion_installed():
        pytest.skip("Fashion-MNIST is not installed and apt-get could not install dataset-fashion-mnist")
    results = check_entry(name, tmp_path)
    assert results and all(r["ok"] for r in results), [r for r in results if not r["ok"]]
