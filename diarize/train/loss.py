"""Objectives: NT-Xent (SimCLR) with an optional queue of negatives, Barlow Twins, and the
additive-angular-margin softmax used on pseudo-labels (and by the supervised reference)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    source: torch.Tensor,
    temperature: float = 0.1,
    queue: torch.Tensor | None = None,
    queue_source: torch.Tensor | None = None,
    drop_nearest: int = 0,
) -> torch.Tensor:
    """Normalised-temperature cross entropy (Chen et al. 2020, eq. 1), symmetric over views.

    Row ``i`` of ``z1`` has one positive, row ``i`` of ``z2``; its negatives are the other
    2B - 2 views of the batch and the ``queue`` entries. Views and queue entries from the same
    recording as row ``i`` (``source``) are not negatives: they are left out of the softmax.
    ``drop_nearest`` > 0 also leaves out each row's that many most similar negatives: a corpus
    with many recordings per voice puts the same voice among the negatives, and those are the
    negatives most likely to be it (false-negative elimination, no label read).

    Parameters
    ----------
    z1, z2 : (B, D) tensors (normalised here)
    source : (B,) int64 recording index of each row
    queue : (Q, D) tensor of earlier embeddings (detached), or None
    queue_source : (Q,) int64 recording of each queue entry (-1 for empty slots)
    """
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    src = torch.cat([source, source])
    logits = z @ z.T / temperature  # (2B, 2B)
    same = src[:, None] == src[None, :]
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    pos_mask = torch.zeros_like(same)
    pos_mask[torch.arange(2 * b, device=z.device), target] = True
    logits = logits.masked_fill(same & ~pos_mask, float("-inf"))
    if queue is not None and len(queue):
        q = F.normalize(queue, dim=1)
        q_logits = z @ q.T / temperature
        q_same = (src[:, None] == queue_source[None, :]) | (queue_source[None, :] < 0)
        logits = torch.cat([logits, q_logits.masked_fill(q_same, float("-inf"))], dim=1)
    if drop_nearest > 0:
        with torch.no_grad():
            negatives = logits.detach().clone()
            negatives[torch.arange(2 * b, device=z.device), target] = float("-inf")
            k = min(drop_nearest, negatives.shape[1] - 1)
            nearest = negatives.topk(k, dim=1).indices
            drop = torch.zeros_like(negatives, dtype=torch.bool).scatter_(1, nearest, True)
            drop[torch.arange(2 * b, device=z.device), target] = False
        logits = logits.masked_fill(drop, float("-inf"))
    return F.cross_entropy(logits, target)


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, off_diagonal_weight: float = 5e-3):
    """Barlow Twins (Zbontar et al. 2021, eq. 1): the cross-correlation of the standardised
    views is pushed to the identity."""
    b = z1.shape[0]
    a = (z1 - z1.mean(0)) / z1.std(0).clamp(min=1e-5)
    c = (z2 - z2.mean(0)) / z2.std(0).clamp(min=1e-5)
    corr = a.T @ c / b
    on = (torch.diagonal(corr) - 1).square().sum()
    off = corr.square().sum() - torch.diagonal(corr).square().sum()
    return on + off_diagonal_weight * off


class AAMSoftmax(nn.Module):
    """Additive angular margin softmax (ArcFace, Deng et al. 2019, eq. 3):
    logit_y = s cos(theta_y + m), other logits s cos(theta_j)."""

    def __init__(self, dim: int, num_classes: int, margin: float = 0.2, scale: float = 30.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, dim) * 0.01)
        self.margin = margin
        self.scale = scale

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T
        sin = (1 - cos.square()).clamp(min=1e-7).sqrt()
        cos_m = cos * math.cos(self.margin) - sin * math.sin(self.margin)
        # Past theta = pi - m the margin would make the target logit grow again (CosFace form).
        cos_m = torch.where(
            cos > -math.cos(self.margin), cos_m, cos - self.margin * math.sin(self.margin)
        )
        onehot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
        logits = self.scale * (onehot * cos_m + (1 - onehot) * cos)
        return F.cross_entropy(logits, labels)


class Queue:
    """FIFO of recent (detached) embeddings and their recordings, MoCo-style negatives."""

    def __init__(self, size: int, dim: int, device: str | torch.device = "cpu"):
        self.size = size
        self.emb = torch.zeros(size, dim, device=device)
        self.source = torch.full((size,), -1, dtype=torch.int64, device=device)
        self.ptr = 0

    @torch.no_grad()
    def push(self, emb: torch.Tensor, source: torch.Tensor) -> None:
        if self.size == 0:
            return
        n = min(len(emb), self.size)
        idx = (self.ptr + torch.arange(n, device=self.emb.device)) % self.size
        self.emb[idx] = F.normalize(emb[:n].detach(), dim=1).to(self.emb.dtype)
        self.source[idx] = source[:n]
        self.ptr = (self.ptr + n) % self.size

    def state(self) -> dict:
        return {"emb": self.emb.cpu(), "source": self.source.cpu(), "ptr": self.ptr}

    def load_state(self, state: dict) -> None:
        if state["emb"].shape == self.emb.shape:
            self.emb.copy_(state["emb"])
            self.source.copy_(state["source"])
            self.ptr = int(state["ptr"])
