"""Pure contrastive and metric-learning losses on embeddings (solo-learn style).

All take float embeddings; they L2-normalise internally where the method calls for it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's NT-Xent: for each of the 2B views, the other view of the same image is the
    positive and the remaining 2B - 2 views are negatives. z1, z2: (B, D)."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)  # (2B, D)
    n = z1.shape[0]
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def info_nce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """InfoNCE: query i must pick key i among all B keys (no same-view negatives),
    symmetrised over the two directions. query, key: (B, D)."""
    q, k = F.normalize(query.float(), dim=1), F.normalize(key.float(), dim=1)
    logits = q @ k.T / temperature
    targets = torch.arange(len(q), device=q.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., L_out): every other sample with the same
    label is a positive. z: (N, D) (all views stacked), labels: (N,)."""
    z = F.normalize(z.float(), dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels.view(-1, 1) == labels.view(1, -1)) & ~self_mask
    n_pos = positives.sum(1)
    mean_log_prob = log_prob.masked_fill(~positives, 0.0).sum(1) / n_pos.clamp(min=1)
    return -(mean_log_prob[n_pos > 0]).mean()


def triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2,
                 mining: str = "batch_hard") -> torch.Tensor:
    """Triplet loss on L2-normalised embeddings, triplets mined inside the batch:
    `batch_all` (mean over triplets that still violate the margin), `batch_hard` (hardest
    positive and hardest negative per anchor), `semi_hard` (the closest negative that is
    farther than the positive; the hardest negative when there is none)."""
    e = F.normalize(embeddings.float(), dim=1)
    dist = torch.cdist(e, e)  # (N, N)
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(e), dtype=torch.bool, device=e.device)
    pos_mask, neg_mask = same & ~eye, ~same
    if mining == "batch_all":
        losses = dist.unsqueeze(2) - dist.unsqueeze(1) + margin  # [a, p, n]
        valid = pos_mask.unsqueeze(2) & neg_mask.unsqueeze(1)
        losses = F.relu(losses)[valid]
        active = losses > 1e-12
        return losses[active].mean() if active.any() else losses.sum() * 0.0
    hardest_pos = dist.masked_fill(~pos_mask, float("-inf")).amax(1)  # (N,)
    far = torch.finfo(dist.dtype).max
    if mining == "batch_hard":
        neg = dist.masked_fill(~neg_mask, far).amin(1)
    elif mining == "semi_hard":
        semi = neg_mask & (dist > hardest_pos.unsqueeze(1))
        neg = dist.masked_fill(~semi, far).amin(1)
        neg = torch.where(semi.any(1), neg, dist.masked_fill(~neg_mask, far).amin(1))
    else:
        raise ValueError(f"unknown mining {mining!r}; valid: batch_all, batch_hard, semi_hard")
    has_both = pos_mask.any(1) & neg_mask.any(1)
    return F.relu(hardest_pos - neg + margin)[has_both].mean()
