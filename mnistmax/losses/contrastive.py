"""Pure contrastive and metric-learning losses on embeddings (solo-learn style).

All take float embeddings; they L2-normalise internally where the method calls for it.
`two_view_loss` is what the contrastive task calls: under DDP it gathers every process's
embeddings (`gather_with_grad`) so that the negatives, positives and mined triplets come from
the global batch, as they would on one device; `sampled_triplet_loss` (explicit triplets, each
within one process's batch) averages over the global batch's triplets (`global_mean`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed
import torch.nn.functional as F

from mnistmax.registry import Registry

# Each loss is the mean of per-anchor (triplet `batch_all`: per-triplet) terms. `_*_terms` return
# (sum of the terms, how many) for the anchors in `anchors` (row indices; all rows when None),
# scored against the whole batch, so one process can score its own anchors against a gathered batch.


def _rows(n: int, anchors: torch.Tensor | None, device) -> torch.Tensor:
    return torch.arange(n, device=device) if anchors is None else anchors


def _mean(total: torch.Tensor, count) -> torch.Tensor:
    """total / count; 0 (still on the graph) when there is no term. InfoNCE's total holds one sum
    per direction: the mean of the two directions' means, rounded as before anchors existed."""
    return (total / torch.as_tensor(count).clamp(min=1)).mean()


def _nt_xent_terms(z1, z2, temperature, anchors=None):
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)  # (2B, D)
    n = z1.shape[0]
    rows = _rows(n, anchors, z.device)  # (b,) pairs whose two views are anchors
    views = torch.cat([rows, rows + n])  # (2b,)
    logits = z[views] @ z.T / temperature  # (2b, 2B)
    logits = logits.masked_fill(views.view(-1, 1) == torch.arange(2 * n, device=z.device), float("-inf"))
    targets = torch.cat([rows + n, rows])
    return F.cross_entropy(logits, targets, reduction="sum"), len(views)


def _info_nce_terms(query, key, temperature, anchors=None):
    q, k = F.normalize(query.float(), dim=1), F.normalize(key.float(), dim=1)
    rows = _rows(len(q), anchors, q.device)  # (b,)
    q_to_k = q[rows] @ k.T / temperature  # (b, B): these queries against every key
    k_to_q = (q @ k[rows].T).T / temperature  # (b, B): these keys against every query
    sums = [F.cross_entropy(logits, rows, reduction="sum") for logits in (q_to_k, k_to_q)]
    return torch.stack(sums), len(rows)  # (2,): each direction over b anchors


def _supcon_terms(z, labels, temperature, anchors=None):
    z = F.normalize(z.float(), dim=1)  # (N, D)
    rows = _rows(len(z), anchors, z.device)  # (A,)
    logits = z[rows] @ z.T / temperature  # (A, N)
    self_mask = rows.view(-1, 1) == torch.arange(len(z), device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[rows].view(-1, 1) == labels.view(1, -1)) & ~self_mask
    n_pos = positives.sum(1)
    mean_log_prob = log_prob.masked_fill(~positives, 0.0).sum(1) / n_pos.clamp(min=1)
    has_pos = n_pos > 0
    return -mean_log_prob[has_pos].sum(), has_pos.sum()


def _hardest_negative(dist, pos_mask, neg_mask, hardest_pos):
    return dist.masked_fill(~neg_mask, torch.finfo(dist.dtype).max).amin(1)


def _semi_hard_negative(dist, pos_mask, neg_mask, hardest_pos):
    far = torch.finfo(dist.dtype).max
    semi = neg_mask & (dist > hardest_pos.unsqueeze(1))
    neg = dist.masked_fill(~semi, far).amin(1)
    return torch.where(semi.any(1), neg, dist.masked_fill(~neg_mask, far).amin(1))


# how a triplet loss picks each anchor's negative (batch_all: every triplet, summed in _triplet_terms)
MINING: Registry = Registry("mining")
MINING.register("batch_all", None)
MINING.register("batch_hard", _hardest_negative)
MINING.register("semi_hard", _semi_hard_negative)


def _triplet_terms(embeddings, labels, margin, mining, anchors=None):
    e = F.normalize(embeddings.float(), dim=1)
    rows = _rows(len(e), anchors, e.device)  # (A,)
    dist = torch.cdist(e[rows], e)  # (A, N)
    same = labels[rows].view(-1, 1) == labels.view(1, -1)
    eye = rows.view(-1, 1) == torch.arange(len(e), device=e.device)
    pos_mask, neg_mask = same & ~eye, ~same
    if mining == "batch_all":
        losses = dist.unsqueeze(2) - dist.unsqueeze(1) + margin  # [a, p, n]
        valid = pos_mask.unsqueeze(2) & neg_mask.unsqueeze(1)
        losses = F.relu(losses)[valid]
        active = losses > 1e-12
        return losses[active].sum(), active.sum()
    hardest_pos = dist.masked_fill(~pos_mask, float("-inf")).amax(1)  # (A,)
    neg = MINING.get(mining)(dist, pos_mask, neg_mask, hardest_pos)
    has_both = pos_mask.any(1) & neg_mask.any(1)
    return F.relu(hardest_pos - neg + margin)[has_both].sum(), has_both.sum()


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's NT-Xent: for each of the 2B views, the other view of the same image is the
    positive and the remaining 2B - 2 views are negatives. z1, z2: (B, D)."""
    return _mean(*_nt_xent_terms(z1, z2, temperature))


def info_nce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """InfoNCE: query i must pick key i among all B keys (no same-view negatives),
    symmetrised over the two directions. query, key: (B, D)."""
    return _mean(*_info_nce_terms(query, key, temperature))


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., L_out): every other sample with the same
    label is a positive; anchors without one are left out (0 when none has one).
    z: (N, D) (all views stacked), labels: (N,)."""
    return _mean(*_supcon_terms(z, labels, temperature))


def triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2,
                 mining: str = "batch_hard") -> torch.Tensor:
    """Triplet loss on L2-normalised embeddings, triplets mined inside the batch:
    `batch_all` (mean over triplets that still violate the margin), `batch_hard` (hardest
    positive and hardest negative per anchor), `semi_hard` (the closest negative that is
    farther than the positive; the hardest negative when there is none). Anchors without a
    positive or a negative are left out (0 when none has both)."""
    return _mean(*_triplet_terms(embeddings, labels, margin, mining))


def sampled_triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                         margin: float = 0.2, gather: bool = False) -> torch.Tensor:
    """Triplet loss on explicit (anchor, positive, negative) rows (T, D), L2-normalised like the mined
    one: mean of max(0, |a - p| - |a - n| + margin).

    gather=True under DDP: the mean over the global batch's triplets, as two_view_loss's (each
    process returns W × its sum / the global count of triplets, which may differ between processes).
    A triplet's three rows are all on its own process, so only the count crosses processes.
    Without a process group it is the plain loss, bit for bit."""
    a, p, n = (F.normalize(x.float(), dim=1) for x in (anchor, positive, negative))
    terms = F.relu((a - p).norm(dim=1) - (a - n).norm(dim=1) + margin)
    world = _world_size() if gather else 1
    if world == 1:
        return terms.mean() if len(terms) else terms.sum()  # 0 for a batch without a triplet (no digit twice)
    return global_mean(terms.sum(), len(terms), world)


@dataclass(frozen=True)
class ContrastiveLoss:
    """A loss of `contrastive.loss`: its (sum, count) terms, whether it takes the labels (its batches
    then interleave the classes), whether both views are stacked into one set with each image's
    label (supcon, triplet), and whether it is a triplet loss (a margin and a mining, not a temperature)."""
    terms: Callable
    uses_labels: bool = False
    stacked: bool = False
    triplet: bool = False


CONTRASTIVE_LOSSES: Registry[ContrastiveLoss] = Registry("contrastive loss")
CONTRASTIVE_LOSSES.register("ntxent", ContrastiveLoss(_nt_xent_terms))
CONTRASTIVE_LOSSES.register("infonce", ContrastiveLoss(_info_nce_terms))
CONTRASTIVE_LOSSES.register("supcon", ContrastiveLoss(_supcon_terms, uses_labels=True, stacked=True))
CONTRASTIVE_LOSSES.register("triplet", ContrastiveLoss(_triplet_terms, uses_labels=True, stacked=True, triplet=True))


# ------------------------------------------------------------------ across processes


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllGather(torch.autograd.Function):
    """all_gather forward; backward, the gradients of every process's loss for the gathered batch
    summed (all_reduce), each process keeping its own rows (a reduce-scatter that gloo can do;
    torch.distributed.nn.functional.all_gather does the same but is deprecated)."""

    @staticmethod
    def forward(ctx, x):
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(parts, x)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone(memory_format=torch.contiguous_format)
        torch.distributed.all_reduce(grad)
        return grad.chunk(torch.distributed.get_world_size())[torch.distributed.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """x of every process concatenated along dim 0 in rank order, (W·B, ...); x itself without
    a process group or with one process. Every process must pass the same shape. Differentiable:
    each process's rows get the sum of the gradients that all processes' losses send them."""
    return x if _world_size() == 1 else _AllGather.apply(x)


def two_view_loss(name: str, z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor, *,
                  temperature: float = 0.2, margin: float = 0.2, mining: str = "batch_hard",
                  gather: bool = False) -> torch.Tensor:
    """`name` (ntxent, infonce, supcon, triplet) on two views z1, z2 (B, D) of B images with
    labels (B,); supcon and triplet stack the views, each with its image's label.

    gather=True under DDP (every process with the same B): each process scores its own anchors
    against the global batch of W·B images and returns W × (its sum of terms) / (the global count),
    so the mean over processes (what `sync_dist` logs) is the global-batch loss. Backward, the
    gather sums all W losses' gradients for a process's rows (W × the global loss's gradient) and
    DDP divides by W: the parameters get the single-device gradient of the global-batch loss.
    Triplet `batch_all` then holds a (2B, 2WB, 2WB) tensor on each process.
    Without a process group it is the plain loss of the local batch, bit for bit."""
    world, rows = (_world_size() if gather else 1), None
    if world > 1:
        rows = torch.distributed.get_rank() * len(z1) + torch.arange(len(z1), device=z1.device)  # ours, globally
        z1, z2 = gather_with_grad(torch.stack([z1, z2], dim=1).float()).unbind(1)  # (W·B, D) each
        labels = gather_with_grad(labels)
    loss = CONTRASTIVE_LOSSES.get(name)
    if not loss.stacked:
        total, count = loss.terms(z1, z2, temperature, rows)
    else:
        views = None if rows is None else torch.cat([rows, rows + len(z1)])  # both views of our images
        z, both = torch.cat([z1, z2]), torch.cat([labels, labels])
        knob = margin if loss.triplet else temperature
        total, count = (loss.terms(z, both, knob, mining, views) if loss.triplet else
                        loss.terms(z, both, knob, views))
    return global_mean(total, count, world)


def global_mean(total: torch.Tensor, count, world: int) -> torch.Tensor:
    """total / count on one process; under DDP (`world` > 1) W × total / (every process's count summed),
    whose mean over processes is the global-batch mean and whose gradient, after DDP's averaging,
    is that mean's."""
    if world == 1:
        return _mean(total, count)
    count = torch.as_tensor(count, device=total.device, dtype=torch.long).clone()
    torch.distributed.all_reduce(count)  # terms in the global batch
    return world * _mean(total, count)
