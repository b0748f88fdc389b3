"""Scoring back end learned without labels: PLDA on pseudo-speakers, and the clustering
stopping thresholds estimated on synthetic mixtures of pseudo-speakers.

Pseudo-speakers come from the encoder itself: the windows of each training recording are
clustered with a conservative threshold and clusters large enough to be trusted become
classes. No speaker label is read anywhere.

PLDA is the two-covariance model (Ioffe 2006; Brümmer & de Villiers 2010): after centring,
whitening and length normalisation, an embedding is ``x = y + e`` with the speaker variable
``y ~ N(0, B)`` and residual ``e ~ N(0, W)``. A linear map ``T`` with ``T W T' = I`` and
``T B T' = diag(psi)`` (simultaneous diagonalisation) makes the log-likelihood ratio of
"same speaker" against "different speakers" a sum over independent dimensions:

    llr(u, v) = sum_d  a_d u_d v_d + b_d (u_d^2 + v_d^2) + c_d

with, for ``p = psi_d``,
    a_d = p / (2p + 1),
    b_d = 1/(2(p + 1)) - (p + 1) / (2(2p + 1)),
    c_d = log(p + 1) - 0.5 log(2p + 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PLDA:
    """A trained, diagonalised two-covariance PLDA model.

    Attributes
    ----------
    mean : (dim,) embedding mean removed first
    whiten : (dim, dim) whitening of the total covariance (applied before length norm)
    transform : (dim, rank) projection after length norm: within-class -> identity
    psi : (rank,) between-class variances in the projected space, sorted descending
    """

    mean: np.ndarray
    whiten: np.ndarray
    transform: np.ndarray
    psi: np.ndarray

    def project(self, embeddings: np.ndarray, recentre: float = 0.0) -> np.ndarray:
        """(n, dim) -> (n, rank) in the space where PLDA is diagonal. ``recentre`` (0-1):
        the share of the rows' own mean also removed before length normalisation (1 =
        centred on these rows instead of the back end's mean)."""
        x = (np.asarray(embeddings, dtype=np.float64) - self.mean) @ self.whiten
        if recentre and len(x):
            x -= recentre * x.mean(axis=0)
        x *= np.sqrt(x.shape[1]) / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x @ self.transform

    def _coefficients(self) -> tuple[np.ndarray, np.ndarray, float]:
        p = self.psi
        a = p / (2 * p + 1)
        b = 1 / (2 * (p + 1)) - (p + 1) / (2 * (2 * p + 1))
        c = float(np.sum(np.log(p + 1) - 0.5 * np.log(2 * p + 1)))
        return a, b, c

    def score_matrix(self, embeddings: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
        """(n, dim) -> (n, n) pairwise same-vs-different log-likelihood ratios; with
        ``other`` (m, dim), the (n, m) ratios of every row against every row of ``other``."""
        u = self.project(embeddings)
        v = u if other is None else self.project(other)
        a, b, c = self._coefficients()
        return (u * a) @ v.T + ((u * u) @ b)[:, None] + ((v * v) @ b)[None, :] + c

    def score_pairs(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Row-wise LLR of (n, dim) against (n, dim)."""
        u, v = self.project(x), self.project(y)
        a, b, c = self._coefficients()
        return (u * v) @ a + (u * u + v * v) @ b + c

    def to_dict(self) -> dict:
        """Tensors only, so a checkpoint holding it loads with ``weights_only=True``."""
        import torch

        return {k: torch.from_numpy(np.asarray(getattr(self, k))) for k in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict) -> PLDA:
        return cls(**{k: np.asarray(data[k], dtype=np.float64) for k in _FIELDS})


_FIELDS = ("mean", "whiten", "transform", "psi")


def model_plda(model) -> PLDA | None:
    """The PLDA back end an encoder carries (``extra["plda"]``, written by ``diarize
    fit-backend``), or None when it has none."""
    extra = getattr(model, "extra", None) or {}
    return PLDA.from_dict(extra["plda"]) if "plda" in extra else None


def _sym_inv_sqrt(cov: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    vals = np.maximum(vals, floor * vals.max())
    return vecs @ np.diag(vals**-0.5) @ vecs.T


def fit_plda(embeddings: np.ndarray, labels: np.ndarray, rank: int | None = None) -> PLDA:
    """Fit PLDA from embeddings and (pseudo-)speaker labels by moment estimates.

    Within-class scatter ``W`` is the pooled covariance around class means; between-class
    ``B`` is the covariance of class means (each class weighted by its size). ``rank`` keeps
    the dimensions with the largest between/within ratio (LDA), all when None.

    Parameters
    ----------
    embeddings : (n, dim) float
    labels : (n,) int, at least two classes with two or more members each
    """
    x = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if np.count_nonzero(counts >= 2) < 2:
        raise ValueError("PLDA needs at least two classes with two or more members")
    mean = x.mean(axis=0)
    whiten = _sym_inv_sqrt(np.cov(x - mean, rowvar=False))
    z = (x - mean) @ whiten
    z *= np.sqrt(z.shape[1]) / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    dim = z.shape[1]
    class_means = np.zeros((len(classes), dim))
    within = np.zeros((dim, dim))
    for i, k in enumerate(classes):
        zk = z[labels == k]
        class_means[i] = zk.mean(axis=0)
        d = zk - class_means[i]
        within += d.T @ d
    within /= max(len(z) - len(classes), 1)
    centered = class_means - np.average(class_means, axis=0, weights=counts)
    between = (centered * counts[:, None]).T @ centered / counts.sum()
    # Simultaneous diagonalisation: W -> I, B -> diag(psi).
    w_isqrt = _sym_inv_sqrt(within)
    vals, vecs = np.linalg.eigh(w_isqrt @ between @ w_isqrt)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.maximum(vals[order], 1e-6), vecs[:, order]
    rank = dim if rank is None else min(rank, dim)
    transform = w_isqrt @ vecs[:, :rank]
    return PLDA(mean=mean, whiten=whiten, transform=transform, psi=vals[:rank])


def pseudo_labels(
    embeddings_per_recording: list[np.ndarray],
    threshold: float,
    min_size: int = 4,
) -> list[np.ndarray]:
    """Cluster each recording on its own (AHC on cosine similarity, stopped at
    ``threshold``); clusters of at least ``min_size`` windows become pseudo-speakers.

    Classes never span recordings (two recordings are assumed to hold different voices,
    the same assumption the encoder's negatives make).

    Returns each recording's (num_windows,) int64 labels: pseudo-speakers numbered from 0
    across all recordings, recording by recording, -1 for the windows of smaller clusters.
    """
    from diarize.cluster import ahc, cosine_similarity

    out = []
    next_label = 0
    for emb in embeddings_per_recording:
        labels = np.full(len(emb), -1, dtype=np.int64)
        if len(emb) >= min_size:
            lab = ahc(cosine_similarity(emb), threshold)
            for k in np.unique(lab):
                members = lab == k
                if members.sum() >= min_size:
                    labels[members] = next_label
                    next_label += 1
        out.append(labels)
    return out


def pseudo_speakers(
    embeddings_per_recording: list[np.ndarray],
    threshold: float,
    min_size: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """The windows of :func:`pseudo_labels`' pseudo-speakers, speaker by speaker.

    Returns
    -------
    embeddings : (n, dim) the windows kept
    labels : (n,) int64 pseudo-speaker index
    """
    labels = pseudo_labels(embeddings_per_recording, threshold, min_size)
    kept = [
        (emb[lab == k], lab[lab == k])
        for emb, lab in zip(embeddings_per_recording, labels, strict=True)
        for k in np.unique(lab[lab >= 0])
    ]
    if not kept:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
    return np.concatenate([e for e, _ in kept]), np.concatenate([lab for _, lab in kept])


def _mapped_errors(truth: np.ndarray, labels: np.ndarray) -> int:
    """Windows left unmatched by the best one-to-one mapping of clusters to classes."""
    from scipy.optimize import linear_sum_assignment

    t_ids, t = np.unique(truth, return_inverse=True)
    h_ids, h = np.unique(labels, return_inverse=True)
    table = np.zeros((len(t_ids), len(h_ids)), dtype=np.int64)
    np.add.at(table, (t, h), 1)
    rows, cols = linear_sum_assignment(-table)
    return int(len(truth) - table[rows, cols].sum())


def synthetic_mixtures(
    embeddings: np.ndarray,
    labels: np.ndarray,
    num_mixtures: int,
    rng: np.random.Generator,
    max_speakers: int = 6,
    max_windows: int = 60,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draw mixtures of 1..max_speakers pseudo-speakers with unequal amounts of speech.

    Returns a list of (embeddings (n, dim), pseudo-labels (n,)).
    """
    classes = np.unique(labels)
    by_class = {k: np.flatnonzero(labels == k) for k in classes}
    out = []
    for _ in range(num_mixtures):
        k = int(rng.integers(1, min(max_speakers, len(classes)) + 1))
        chosen = rng.choice(classes, size=k, replace=False)
        idx, lab = [], []
        for c in chosen:
            members = by_class[c]
            n = int(rng.integers(min(3, len(members)), min(max_windows, len(members)) + 1))
            start = int(rng.integers(0, len(members) - n + 1))
            idx.append(members[start : start + n])  # contiguous: like one person's turns
            lab.append(np.full(n, c))
        out.append((embeddings[np.concatenate(idx)], np.concatenate(lab)))
    return out


def estimate_threshold(
    mixtures: list[tuple[np.ndarray, np.ndarray]],
    similarity,
    candidates: np.ndarray,
) -> tuple[float, np.ndarray]:
    """The stopping threshold with the fewest mis-clustered windows over ``mixtures``.

    Returns
    -------
    threshold : the best candidate (the middle of the best plateau when several tie)
    errors : (num_candidates,) error rate of each candidate
    """
    from diarize.cluster import ahc

    errors = np.zeros(len(candidates))
    total = 0
    for emb, truth in mixtures:
        sim = similarity(emb)
        total += len(truth)
        for i, thr in enumerate(candidates):
            errors[i] += _mapped_errors(truth, ahc(sim, float(thr)))
    errors /= max(total, 1)
    best = np.flatnonzero(errors <= errors.min() + 1e-12)
    return float(candidates[best[len(best) // 2]]), errors
