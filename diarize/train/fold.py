"""Label-free linear back end learned from positive pairs and folded into the encoder's last
layer, and the export of a trained encoder for shipping.

Within-pair scatter stands in for within-speaker scatter: two disjoint windows less than half
a second apart share the voice, so what differs between them is nuisance (phonetic content,
noise). With ``S_w`` = covariance of pair differences / 2 and ``S_t`` = total covariance of the
embeddings, the directions ``v`` maximising ``v' S_t v / v' S_w v`` (the generalised eigen-
problem ``S_t v = lambda S_w v``, as in LDA, Fukunaga 1990, ch. 10) weight what varies between
recordings over what varies within one. The transform ``y = V' (x - mean)`` is affine, so it is
folded into the final linear layer and batch norm: the encoder's face and cost do not change.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import eigh

from diarize.encoder import Encoder, SegmentEncoder, save_encoder
from diarize.train.data import SAMPLE_RATE, PairSampler, Recording

logger = logging.getLogger(__name__)


@torch.no_grad()
def pair_embeddings(
    encoder: Encoder,
    recordings: list[Recording],
    num_pairs: int = 4000,
    window: float = 1.5,
    batch_size: int = 128,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Un-normalised embeddings of ``num_pairs`` positive pairs (clean, no augmentation).

    Returns two (num_pairs, dim) float64 arrays.
    """
    sampler = PairSampler(recordings, seed=seed)
    model = encoder.model.eval()
    num_samples = int(round(window * encoder.sample_rate))
    first, second = [], []
    for start in range(0, num_pairs, batch_size):
        batch = sampler.sample(min(batch_size, num_pairs - start), num_samples)
        for out, x in ((first, batch.first), (second, batch.second)):
            out.append(model(encoder.fbank(torch.from_numpy(x))).double().numpy())
    return np.concatenate(first), np.concatenate(second)


def clean_batches(
    recordings: list[Recording],
    num_batches: int,
    batch_size: int,
    window: float,
    seed: int,
    max_gap: float = 0.5,
    min_speech_fraction: float = 0.5,
    groups: np.ndarray | None = None,
    group_weights: tuple[float, ...] | None = None,
):
    """``num_batches`` tensors of ``2 * batch_size`` clean windows of ``window`` seconds (the
    two views of ``batch_size`` positive pairs), drawn by their own generator (``seed``) so
    that the same call gives the same windows. Without ``groups`` recordings are weighted by
    their speech; with ``groups`` and ``group_weights`` (see :class:`PairSampler`) every
    source gets the given share: the batch-norm statistics then describe that mix of
    sources, whatever their sizes."""
    sampler = PairSampler(
        recordings,
        max_gap,
        min_speech_fraction,
        seed,
        groups=groups if group_weights else None,
        group_weights=group_weights or None,
    )
    num_samples = int(round(window * SAMPLE_RATE))
    for _ in range(num_batches):
        batch = sampler.sample(batch_size, num_samples)
        yield torch.from_numpy(np.concatenate([batch.first, batch.second]))


@torch.no_grad()
def recalibrate_batchnorm(model: SegmentEncoder, fbank, batches) -> SegmentEncoder:
    """Re-estimate every batch norm's statistics as the plain average over ``batches``
    (tensors of waveforms, (batch, num_samples)) in place; returns the model in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for x in batches:
        model(fbank(x))
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    return model.eval()


def pair_lda(x1: np.ndarray, x2: np.ndarray, dim: int | None = None, floor: float = 1e-3):
    """Affine map ``y = (x - mean) @ V`` from positive pairs.

    Returns ``(mean (D,), V (D, dim), eigenvalues (dim,))``; ``V`` is scaled so that the
    within-pair scatter of ``y`` is the identity (``V' S_w V = I``).
    """
    x = np.concatenate([x1, x2])
    mean = x.mean(0)
    s_t = np.cov(x, rowvar=False)
    d = x1 - x2
    s_w = d.T @ d / (2 * len(d))
    s_w += floor * np.trace(s_w) / len(s_w) * np.eye(len(s_w))
    values, vectors = eigh(s_t, s_w)  # ascending; vectors' S_w vectors = I
    order = np.argsort(values)[::-1][: dim or len(values)]
    return mean, vectors[:, order], values[order]


def fold_affine(encoder: Encoder, mean: np.ndarray, transform: np.ndarray) -> Encoder:
    """A copy of ``encoder`` whose output is ``(old_output - mean) @ transform``.

    The batch norm after the last linear layer is an affine map in inference, so
    ``y = T' (a * (W s + b - mu) / sigma + beta - mean)`` becomes one linear layer; the batch
    norm is set to the identity.
    """
    model: SegmentEncoder = copy.deepcopy(encoder.model).eval()
    bn, head = model.head_bn, model.head
    with torch.no_grad():
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).double()
        w = head.weight.double() * scale[:, None]
        b = (head.bias.double() - bn.running_mean.double()) * scale + bn.bias.double()
        t = torch.from_numpy(transform)
        new_w = t.T @ w
        new_b = t.T @ (b - torch.from_numpy(mean))
    dim = transform.shape[1]
    config = dataclasses.replace(model.config, embed_dim=dim)
    out_model = SegmentEncoder(config, model.stem[0].in_channels)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(("head.", "head_bn."))}
    state["head.weight"] = new_w.float()
    state["head.bias"] = new_b.float()
    state["head_bn.weight"] = torch.ones(dim)
    state["head_bn.bias"] = torch.zeros(dim)
    state["head_bn.running_mean"] = torch.zeros(dim)
    state["head_bn.running_var"] = torch.full((dim,), 1.0 - out_model.head_bn.eps)
    state["head_bn.num_batches_tracked"] = torch.tensor(0)
    out_model.load_state_dict(state)
    meta = {**encoder.meta, "pair_lda_dim": dim}
    return Encoder(out_model.eval(), encoder.feature_config, meta, encoder.extra)


def export_encoder(
    encoder: Encoder, path: str | Path, half: bool = True, meta: dict | None = None
) -> Path:
    """Write ``encoder`` for shipping: float16 weights (load_encoder casts them back),
    training history kept in the meta."""
    model = copy.deepcopy(encoder.model)
    if half:
        model = model.half()
        # Batch-norm counters and statistics stay exact enough; counters keep their dtype.
    return save_encoder(path, model, encoder.feature_config, {**encoder.meta, **(meta or {})})
