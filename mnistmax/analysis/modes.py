"""The names of the analyses' modes, in a module that imports nothing: the CLI lists them as
`--mode` choices in `--help` without importing torch; analysis.latent, analysis.transfer and
the API read them from here (DESIGN principle 4: one fact, one place)."""

SAMPLE_MODES = ("normal", "uniform", "fitted")  # how latents are drawn: N(0, I), a box, a fitted Gaussian
TRANSFER_MODES = ("scratch", "frozen", "finetune")  # the classifier's encoder: random, pretrained fixed, tuned
LATENT_SPLITS = ("test", "train")  # whose latent codes the explorer's statistics describe


def default_sample_mode(capabilities) -> str:
    """How latents are drawn when no mode is given: N(0, I) for a model trained towards that prior
    (a VAE: it can `sample`), else a Gaussian fitted to the training latents (an autoencoder)."""
    return "normal" if "sample" in capabilities else "fitted"
