"""Limitations scores on constructed cases, and `compare limitations` / `compare models` on a tiny run."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from mnistmax.analysis import scores
from mnistmax.analysis.judge import Judge, data_key
from mnistmax.analysis.limitations import baseline_methods, check_sigmas
from mnistmax.cli import app
from mnistmax.errors import MnistmaxError
from mnistmax.tasks import load_config
from tests.helpers import TINY, assert_picture

runner = CliRunner()


def blur(images: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def test_identical_outputs_score_ideal(digits):
    assert scores.oversmoothing(digits, digits) == pytest.approx(0.0, abs=1e-6)
    assert scores.high_frequency_ratio(digits, digits) == pytest.approx(1.0)
    assert scores.diversity_collapse(digits, digits) == pytest.approx(0.0, abs=1e-6)
    repeated = digits[:5].unsqueeze(1).expand(5, 4, 1, 28, 28)
    assert scores.noise_sensitivity(repeated, digits[:5]) == pytest.approx(0.0, abs=1e-6)


def test_a_blurred_copy_scores_worse(digits):
    blurred = blur(digits)
    assert 0.1 < scores.oversmoothing(blurred, digits) < 1.0
    assert scores.high_frequency_ratio(blurred, digits) < 0.5
    assert (scores.laplacian_variance(blurred) < scores.laplacian_variance(digits)).all()
    assert scores.oversmoothing(blur(blurred), digits) > scores.oversmoothing(blurred, digits)


def test_sharper_than_clean_is_not_oversmoothed(digits):
    sharp = (digits > 0.5).float()
    assert scores.oversmoothing(sharp, digits) == 0.0


def test_constant_outputs_collapse_fully(digits):
    constant = digits.mean(0, keepdim=True).expand_as(digits)
    assert scores.diversity_collapse(constant, digits) == pytest.approx(1.0)
    assert scores.oversmoothing(torch.zeros_like(digits), digits) == pytest.approx(1.0)
    assert scores.mean_pairwise_distance(digits[:1]) == 0.0


def test_edge_energy_of_a_step():
    step = torch.zeros(1, 1, 8, 8)
    step[..., 4:] = 1.0
    grad = scores.gradient_magnitude(step)
    assert grad[0, 0, 3, 3] == pytest.approx(0.5) and grad[0, 0, 3, 4] == pytest.approx(0.5)
    assert grad[0, 0, 3, 0] == 0.0 and grad[0, 0, 3, 7] == 0.0


@pytest.mark.parametrize("k", [2, 5, 9, 13])
def test_spectrum_of_a_sinusoid_peaks_at_its_frequency(k):
    x = torch.arange(28).float()
    wave = torch.sin(2 * math.pi * k * x / 28).expand(28, 28).reshape(1, 1, 28, 28)
    freqs, power = scores.radial_power_spectrum(wave)
    assert len(freqs) == 15 and freqs[-1] == pytest.approx(0.5)
    assert int(power.argmax()) == k and freqs[k] == pytest.approx(k / 28)
    rest = power[torch.arange(15) != k].max()
    assert power[k] > 100 * rest.clamp_min(1e-12) or rest < 1e-8


def test_high_frequency_ratio_sees_noise_and_blur(digits):
    noisy = (digits + 0.3 * torch.randn_like(digits)).clamp(0, 1)
    assert scores.high_frequency_ratio(noisy, digits) > 1.5
    assert scores.high_frequency_ratio(blur(digits), digits) < 1.0


def test_class_entropy_bounds():
    uniform, certain = torch.zeros(1, 10), torch.tensor([[100.0] + [0.0] * 9])
    assert scores.class_entropy(uniform).item() == pytest.approx(math.log2(10))
    assert scores.class_entropy(certain).item() == pytest.approx(0.0, abs=1e-6)


class Prototypes(torch.nn.Module):
    """A judge by nearest class mean: logits = -(squared distance to each class's mean digit) / temperature."""

    def __init__(self, digits, labels, temperature: float = 10.0):
        super().__init__()
        means = torch.stack([digits[labels == c].mean(0).flatten() for c in range(10)])
        self.means = torch.nn.Parameter(means, requires_grad=False)  # a parameter: batched() finds its device
        self.temperature = temperature

    def forward(self, x):
        return -torch.cdist(x.flatten(1).float(), self.means).pow(2) / self.temperature


def prototype_judge(digits, labels) -> Judge:
    return Judge(Prototypes(digits, labels).eval(), 1.0, "class means")


def blends(digits, labels, weight: float = 0.5):
    """weight x each digit + (1 - weight) x the nearest digit of another class: an output torn
    between two modes, as a denoiser unsure between two confusable digits makes it."""
    distance = torch.cdist(digits.flatten(1), digits.flatten(1))
    distance[labels[:, None] == labels[None, :]] = float("inf")
    return weight * digits + (1 - weight) * digits[distance.argmin(1)]


def test_averaging_two_digits_is_mode_averaging(digits, digit_labels):
    judge = prototype_judge(digits, digit_labels)
    probs = judge.logits(digits).softmax(1)
    score = {w: scores.mode_averaging(judge.logits(blends(digits, digit_labels, w)).softmax(1), probs)
             for w in (0.5, 0.7, 1.0)}
    assert score[1.0] == scores.mode_averaging(probs, probs) == 0.0  # identical outputs make no blends
    assert scores.split_posterior(probs).float().mean() <= 0.05  # few clean digits are split ...
    assert score[0.5] > 0.3 and score[0.5] > score[0.7] > 0  # ... many half-and-half blends are, fewer 70/30 ones
    noisy = judge.logits((digits + 0.2 * torch.randn_like(digits)).clamp(0, 1)).softmax(1)
    assert scores.mode_averaging(noisy, probs) < score[0.5]  # noise alone is not a blend
    classes, top = scores.second_class(probs)
    assert (top[:, 0] >= top[:, 1]).all() and (classes[:, 0] == digit_labels).all()
    made = torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1]])
    assert scores.split_posterior(made).tolist() == [False, True, True]
    assert scores.mode_averaging(made, made[[1, 1, 0]]) == pytest.approx(1 / 3)  # a split clean digit is not counted


def test_the_most_blended_outputs_are_pictured(digits, digit_labels, tmp_path):
    from mnistmax.analysis.limitations import _blended_digits
    from mnistmax.viz.limitation_figures import blended_figure

    judge = prototype_judge(digits, digit_labels)
    probs = judge.logits(digits).softmax(1)
    out = torch.cat([blends(digits, digit_labels)[:20], digits[20:]])  # twenty blended outputs, the rest perfect
    probs_out = judge.logits(out).softmax(1)
    found = _blended_digits(digits, digits, out, digit_labels, probs, probs_out, 0.5, 0.25)
    assert found["count"] == round(20 * scores.mode_averaging(probs_out[:20], probs[:20])) >= 4
    assert set(found["index"][:found["count"]]) <= set(range(20)) and len(found["index"]) == 10
    assert all(a >= b >= 0.25 for a, b in found["probs"][:found["count"]])
    assert all(a != b for a, b in found["classes"])
    assert_picture(blended_figure(found, tmp_path / "blended.png", "the most blended"), (300, 100))


def test_seen_levels_and_sigma_checks():
    from mnistmax.tasks import build_task

    task = build_task(load_config("configs/mnist.yaml"))
    assert task.seen_level(0.5) and task.seen_level(1.0) and not task.seen_level(1.5)
    listed = build_task(load_config("configs/mnist.yaml", ["noise.train_sigma_range=null",
                                                           "noise.train_sigmas=[0.1, 0.5]"]))
    assert listed.seen_level(0.5) and not listed.seen_level(0.3)
    assert not build_task(load_config("configs/models/conv_ae.yaml")).seen_level(0.1)  # trained on clean digits
    assert check_sigmas("gaussian", [1.5, 0.1]) == [0.1, 1.5]
    with pytest.raises(MnistmaxError, match="levels must lie in"):
        check_sigmas("salt_pepper", [1.5])


def test_the_judge_key_follows_the_data():
    a, b = load_config("configs/mnist.yaml"), load_config("configs/mnist.yaml", ["data.binarize=true"])
    assert data_key(a) != data_key(b) and data_key(a) == data_key(load_config("configs/mnist.yaml", ["train.lr=0.1"]))


@pytest.fixture(scope="module", autouse=True)
def small_judge():
    """A judge trained on 400 digits for a few steps: these tests check the plumbing, not its accuracy."""
    from mnistmax.analysis import judge
    from mnistmax.training import classifier

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judge, "MAX_TRAIN", 400)
        patch.setattr(judge, "JUDGE_TRAIN", {"epochs": 2})
        patch.setattr(classifier, "MIN_STEPS", 10)
        yield


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("lim")
    runs = []
    for model in ("unet_dae", "conv_dae"):
        result = runner.invoke(app, ["train", "-c", "configs/quick.yaml", *TINY, f"model.name={model}",
                                     f"logging.output_dir={out}", "viz.enabled=false"])
        assert result.exit_code == 0, result.output
        runs.append(max((out / "runs").iterdir(), key=lambda p: p.stat().st_mtime_ns))
    return out, runs


def test_compare_limitations_writes_files_and_report_section(two_runs, tmp_path):
    out, (unet, conv) = two_runs
    result = runner.invoke(app, ["compare", "limitations", str(unet), str(conv), "--sigmas", "0.3,1.5", "--draws", "3",
                                 "--output", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "training the judge" in result.output and len(list((out / "judges").glob("*.pt"))) == 1
    judge_run = next(p for p in (out / "judges").iterdir() if p.is_dir())  # trained by the project's trainer
    assert json.loads((judge_run / "meta.json").read_text())["status"] == "completed"
    for run in (unet, conv):
        data = json.loads((run / "reports" / "limitations.json").read_text())
        assert [r["sigma"] for r in data["rows"]] == [0.3, 1.5] and [r["seen"] for r in data["rows"]] == [True, False]
        for r in data["rows"]:
            assert 0 <= r["oversmoothing"] <= 1 and 0 <= r["diversity_collapse"] <= 1 and 0 <= r["flip_rate"] <= 1
            assert r["hf_ratio_noisy"] > r["hf_ratio"] > 0
            assert 0 <= r["mode_averaging"] <= 1 and 0 <= r["mode_averaging_noisy"] <= 1
        assert set(data["definitions"]) >= {"oversmoothing", "hf_ratio", "diversity_collapse", "flip_rate",
                                            "mode_averaging", "baselines"}
        assert list(data["baselines"]) == list(baseline_methods(load_config(run / "config.yaml")))
        for rows in data["baselines"].values():
            assert [r["sigma"] for r in rows] == [0.3, 1.5] and set(rows[0]) == set(data["rows"][0]) - {"seen"}
        assert data["blended"]["sigma"] == 0.3 and len(data["blended"]["classes"]) == len(data["blended"]["index"])
        assert len(data["spectrum"]["freqs"]) == 15 and set(data["spectrum"]["outputs"]) == {"0.3", "1.5"}
        assert 0 < data["no_digit"]["confidence"] <= 1
        for name in ("frequency_analysis.png", "limitations_scores.png", "limitations_no_digit.png"):
            assert_picture(run / "reports" / name)
        page = (run / "reports" / "limitations.html").read_text()
        assert "Over-smoothing" in page and "data:image/png;base64," in page and "<script" not in page
        assert "Mode averaging" in page and "<td>median_filter</td>" in page
    both = json.loads((tmp_path / "cmp" / "limitations.json").read_text())
    assert [r["name"] for r in both] == [unet.name, conv.name]
    assert both[0]["baselines"] == both[1]["baselines"]  # the same digits and noise draws: scored once
    page = (tmp_path / "cmp" / "limitations.html").read_text()
    assert page.count("data:image/png") >= 7
    assert page.count("<td>baseline</td><td>gaussian_filter</td>") == 2  # once per σ, not once per run
    assert "gaussian_filter" in result.output  # the printed table has the baselines' rows too
    report = runner.invoke(app, ["report", str(unet)])
    assert report.exit_code == 0, report.output
    assert "<h2>Limitations</h2>" in (unet / "reports" / "index.html").read_text()


def test_compare_limitations_rejects_bad_input(two_runs):
    _, (unet, _) = two_runs
    bad = runner.invoke(app, ["compare", "limitations", str(unet), "--sigmas", "0.5,abc"])
    assert bad.exit_code == 1 and "--sigmas" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(app, ["compare", "limitations", str(unet), "--kind", "fog"])
    words = " ".join(bad.output.replace("│", " ").split())  # click's usage message, unwrapped
    assert bad.exit_code == 2 and "unknown noise kind 'fog'; valid: gaussian, salt_pepper" in words
    bad = runner.invoke(app, ["compare", "limitations", "no-such-run"])
    assert bad.exit_code != 0 and "not found" in bad.output
    bad = runner.invoke(app, ["compare", "limitations", str(unet), "--classifier", str(unet)])
    assert bad.exit_code != 0
    assert "--classifier needs a run whose task can classify (classify); this is a denoise run" in bad.output


def test_compare_models_table(two_runs, tmp_path):
    _, runs = two_runs
    result = runner.invoke(app, ["compare", "models", *map(str, runs), "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "models.json").read_text())
    names = list(baseline_methods(load_config(runs[0] / "config.yaml")))
    assert [r["model"] for r in rows] == ["unet_dae", "conv_dae", *names]
    for r in rows[:2]:
        assert r["parameters"] > 0 and r["train_img_s"] > 0 and r["infer_img_s"] > 0
        assert r["psnr@0.1"] > r["psnr@1"] and 0 < r["ssim@0.5"] <= 1
    assert all(r["run"] == "baseline" and "psnr@0.5" in r for r in rows[2:])
    table = (tmp_path / "models.md").read_text()
    assert "psnr@0.5" in table and "| baseline | median_filter |" in table
    assert_picture(tmp_path / "psnr_vs_sigma.png")


def test_baseline_rows_match_eval_baselines(two_runs, digits, digit_labels):
    """The baselines' rows in both tables are mnistmax.eval.baselines on the runs' test digits and noise draws."""
    from mnistmax.analysis.compare import compare_models, scoring_config
    from mnistmax.analysis.limitations import analyse_baselines, mode_averaging_rows
    from mnistmax.eval.baselines import gaussian_filter, median_filter
    from mnistmax.eval.denoise import evaluate_methods
    from mnistmax.runs import load_run

    _, runs = two_runs
    loaded = [load_run(r) for r in runs]
    rows = compare_models(loaded, sigmas=(0.3, 0.5), echo=lambda _: None)
    cfg = scoring_config(loaded[0], (0.3, 0.5))
    filters = {"gaussian_filter": gaussian_filter, "median_filter": median_filter}
    expected = {(r["method"], r["sigma"]): r for r in evaluate_methods(filters, loaded[0].test_images, cfg)}
    table = {r["model"]: r for r in rows if r["run"] == "baseline"}
    assert [r["run"] for r in rows].count("baseline") == len(baseline_methods(cfg))  # once for the two runs
    for (name, sigma), r in expected.items():
        assert table[name][f"psnr@{sigma:g}"] == round(r["psnr"], 2) and table[name][f"ssim@{sigma:g}"] == round(
            r["ssim"], 4)
    limits = analyse_baselines(loaded[0], prototype_judge(digits, digit_labels), [0.3, 0.5], draws=2, digits=4)
    for (name, sigma), r in expected.items():
        row = next(x for x in limits[name] if x["sigma"] == sigma)
        assert row["psnr"] == pytest.approx(r["psnr"], abs=1e-4)
    assert limits["median_filter"][0]["psnr"] != limits["gaussian_filter"][0]["psnr"]
    only = mode_averaging_rows(loaded[0], prototype_judge(digits, digit_labels), [0.3, 0.5], baselines=True)
    for row, sigma in zip(only, (0.3, 0.5)):  # the script's numbers are the analysis' numbers
        assert row["sigma"] == sigma and row["mode_averaging_identity"] == row["mode_averaging_noisy"]
        for name in filters:
            same = next(x for x in limits[name] if x["sigma"] == sigma)
            assert row[f"mode_averaging_{name}"] == same["mode_averaging"]
