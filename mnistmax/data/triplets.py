"""Explicit (anchor, positive, negative) triplets drawn from a batch's labels
(`contrastive.triplets: sampled`), beside the in-batch mining of the triplet loss.

Every image of the batch is an anchor; its positive is another image of the same digit and
its negative an image of another digit, both drawn uniformly from the batch (balanced
batches hold every class). Anchors whose digit has no second image in the batch are left
out (a batch without any triplet gives empty views and a zero loss). With `augment.consistent` the
three members of a triplet share one warp, erasing box
and brightness (one per triplet, not one per batch); otherwise each member gets its own.
"""

from __future__ import annotations

import torch

from mnistmax.config import RunConfig
from mnistmax.data.augment import augment


def sample_triplets(labels: torch.Tensor, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(anchor, positive, negative) index tensors (T,) into the batch: labels[a] == labels[p],
    a != p, labels[n] != labels[a]; anchors without a positive or a negative are left out."""
    b = len(labels)
    scores = torch.rand((2, b, b), generator=generator, device=labels.device)  # a random order per anchor
    same = labels.view(-1, 1) == labels.view(1, -1)
    other = torch.eye(b, dtype=torch.bool, device=labels.device).logical_not()
    pos_ok, neg_ok = same & other, ~same
    positive = scores[0].masked_fill(~pos_ok, -1.0).argmax(1)
    negative = scores[1].masked_fill(~neg_ok, -1.0).argmax(1)
    keep = pos_ok.any(1) & neg_ok.any(1)
    anchor = torch.arange(b, device=labels.device)
    return anchor[keep], positive[keep], negative[keep]


def triplet_batch(images: torch.Tensor, labels: torch.Tensor, cfg: RunConfig, generator: torch.Generator) -> dict:
    """The clean digits, and augmented anchor, positive and negative views of sampled triplets."""
    from mnistmax.data.datamodule import clean_images

    clean = clean_images(images, cfg)
    members = sample_triplets(labels, generator)
    views = []
    state = generator.get_state() if cfg.augment.consistent else None
    for idx in members:
        if state is not None:  # the same draws for each member: triplet i gets warp i three times
            generator.set_state(state)
        views.append(augment(clean[idx], cfg.augment, generator, consistent=False) if len(idx) else clean[idx])
    return {"images": clean, "anchor": views[0], "positive": views[1], "negative": views[2],
            "triplet_labels": labels[members[0]], "labels": labels}
