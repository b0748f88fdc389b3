"""Agglomerative clustering of window embeddings.

Average-linkage AHC on cosine similarity (or any precomputed similarity such as PLDA
log-likelihood ratios). Stops at a similarity threshold, or at an exact number of clusters,
or at the threshold clamped to [min_speakers, max_speakers].
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np

from diarize.backend import PLDA
from diarize.config import ClusterConfig
from diarize.linkage import linkage  # scipy's average linkage, without importing scipy
from diarize.types import Embeddings, Labels

logger = logging.getLogger(__name__)

#: pairwise similarity, larger = more alike: ``f(x)`` (n, dim) -> (n, n), and
#: ``f(x, y)`` (n, dim), (m, dim) -> (n, m); symmetric: f(x, y) == f(y, x).T
Similarity = Callable[..., np.ndarray]

DEFAULT_COSINE_THRESHOLD = 0.5

#: Rows of the similarity matrix computed at once when it is built block by block.
BLOCK_ROWS = 512


def cosine_similarity(embeddings: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    if other is None:
        return x @ x.T
    y = other / np.maximum(np.linalg.norm(other, axis=1, keepdims=True), 1e-12)
    return x @ y.T


def condensed_distance(
    embeddings: np.ndarray, similarity: Similarity, block: int = BLOCK_ROWS
) -> tuple[np.ndarray, float]:
    """Upper triangle of ``max(similarity) - similarity`` as scipy's condensed vector
    (float64, n (n - 1) / 2 values), and that offset; built ``block`` rows at a time, so the
    square matrix never exists in memory."""
    n = len(embeddings)
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    offset = -np.inf
    pos = 0
    for a in range(0, n, block):
        b = min(n, a + block)
        rows = similarity(embeddings[a:b], embeddings[a:])  # columns a.. (diagonal included)
        offset = max(offset, float(rows.max()))
        for i in range(b - a):
            row = rows[i, i + 1 :]
            out[pos : pos + len(row)] = row
            pos += len(row)
    np.subtract(offset, out, out=out)
    np.maximum(out, 0.0, out=out)
    return out, offset


def _num_clusters(heights: np.ndarray, threshold_distance: float) -> int:
    """Clusters left when merging stops at ``threshold_distance`` (merges at <= it happen)."""
    return int(len(heights) + 1 - np.count_nonzero(heights <= threshold_distance))


#: Thresholds (evenly spaced over ``threshold +- spread``) whose speaker counts are pooled.
COUNT_STEPS = 11


def _large_clusters(
    tree: np.ndarray, n: int, offset: float, threshold: float, min_size: int
) -> int:
    """Clusters of at least ``min_size`` members when merging stops at ``threshold`` (>= 1)."""
    raw = _cut(tree, n, _num_clusters(tree[:, 2], offset - threshold))
    return max(1, int(np.count_nonzero(np.bincount(relabel(raw)) >= min_size)))


def speaker_count(
    tree: np.ndarray, n: int, offset: float, threshold: float, min_size: int, spread: float
) -> int:
    """The number of large clusters at ``threshold``, or with ``spread`` > 0 the median of
    that number over ``COUNT_STEPS`` thresholds spanning ``threshold +- spread``.

    The count of clusters of at least ``min_size`` members is not monotonic in the
    threshold: a speaker's cluster can split into pieces that are each too small to count,
    so a small change of the threshold (or of the windows) can add or drop a speaker. The
    median over a neighbourhood of thresholds is steadier.
    """
    if spread <= 0:
        return _large_clusters(tree, n, offset, threshold, min_size)
    grid = np.linspace(threshold - spread, threshold + spread, COUNT_STEPS)
    return int(np.median([_large_clusters(tree, n, offset, t, min_size) for t in grid]))


def ahc(
    similarity: np.ndarray,
    threshold: float,
    num_clusters: int | None = None,
    min_clusters: int | None = None,
    max_clusters: int | None = None,
    min_size: int = 1,
    spread: float = 0.0,
) -> Labels:
    """Average-linkage AHC on a (n, n) similarity matrix (made symmetric first); the
    arguments and the result are those of :func:`ahc_embeddings`."""
    sym = 0.5 * (similarity + similarity.T)
    index = np.arange(len(sym))[:, None]

    def lookup(rows: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        cols = rows if cols is None else cols
        return sym[np.ix_(rows[:, 0], cols[:, 0])]

    return ahc_embeddings(
        index, lookup, threshold, num_clusters, min_clusters, max_clusters, min_size, spread
    )


def ahc_embeddings(
    embeddings: np.ndarray,
    similarity: Similarity,
    threshold: float,
    num_clusters: int | None = None,
    min_clusters: int | None = None,
    max_clusters: int | None = None,
    min_size: int = 1,
    spread: float = 0.0,
) -> Labels:
    """Average-linkage AHC on the pairwise ``similarity`` of ``embeddings``, without ever
    holding the square matrix: memory is the condensed distances (8 bytes per pair) and
    scipy's copy of them.

    Merging stops once the best average similarity between two clusters drops below
    ``threshold``; ``num_clusters`` overrides that, and the count is clamped to
    ``[min_clusters, max_clusters]``. Labels are 0..k-1 in order of first appearance.

    Clusters of fewer than ``min_size`` members do not count as speakers: windows that
    straddle a speaker change, overlap or noise tend to stay apart from everything until
    late in the merging. The tree is cut until it holds the wanted number of clusters of at
    least ``min_size`` members; the members of smaller clusters then join the large cluster
    with the highest average similarity to them.

    With ``spread`` > 0 the count is the median over thresholds within ``threshold +-
    spread`` (see :func:`speaker_count`).
    """
    n = len(embeddings)
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    condensed, offset = condensed_distance(embeddings, similarity)
    tree = linkage(condensed, method="average")
    del condensed
    min_size = int(max(1, min(min_size, n)))
    if num_clusters is not None:
        k = num_clusters
    else:
        k = speaker_count(tree, n, offset, threshold, min_size, spread)
        if min_clusters is not None:
            k = max(k, min_clusters)
        if max_clusters is not None:
            k = min(k, max_clusters)
    k = int(min(max(k, 1), n))
    if min_size <= 1:
        return relabel(_cut(tree, n, k))
    # The smallest cut with k clusters of at least min_size members (k of size >= 1 when
    # even the finest cut has too few large clusters).
    m = k
    while True:
        labels = relabel(_cut(tree, n, m))
        sizes = np.bincount(labels)
        if np.count_nonzero(sizes >= min_size) >= k or m >= n:
            break
        m = min(n, max(m + 1, int(m * 1.25)))
    order = np.argsort(-sizes, kind="stable")
    anchors = order[:k]
    anchor_of = -np.ones(len(sizes), dtype=np.int64)
    anchor_of[anchors] = np.arange(k)
    out = anchor_of[labels]
    loose = np.flatnonzero(out < 0)
    if len(loose):
        # Average similarity of each loose window to each anchor cluster, a block at a time.
        members = np.zeros((n, k))
        members[out >= 0, out[out >= 0]] = 1.0
        members /= members.sum(axis=0)
        for a in range(0, len(loose), BLOCK_ROWS):
            rows = loose[a : a + BLOCK_ROWS]
            affinity = similarity(embeddings[rows], embeddings) @ members
            out[rows] = np.argmax(affinity, axis=1)
    return relabel(out)


def _cut(tree: np.ndarray, n: int, k: int) -> np.ndarray:
    """Replay the first n - k merges of a linkage matrix: exactly k clusters."""
    parent = np.arange(2 * n - 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for step in range(n - k):
        a, b = int(tree[step, 0]), int(tree[step, 1])
        parent[find(a)] = n + step
        parent[find(b)] = n + step
    return np.array([find(i) for i in range(n)])


def relabel(labels: np.ndarray) -> Labels:
    """Map arbitrary labels to 0..k-1 in order of first appearance."""
    mapping: dict[int, int] = {}
    out = np.empty(len(labels), dtype=np.int64)
    for i, lab in enumerate(labels.tolist()):
        out[i] = mapping.setdefault(lab, len(mapping))
    return out


def center(embeddings: np.ndarray) -> np.ndarray:
    """Remove the recording's mean embedding and re-normalise.

    What all windows of one recording share (room, microphone, noise) moves every
    embedding the same way; subtracting the mean leaves what tells the voices apart.
    """
    x = embeddings - embeddings.mean(axis=0, keepdims=True)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, dim) L2-normed mean embedding of each cluster 0..k-1."""
    k = int(labels.max()) + 1 if len(labels) else 0
    out = np.zeros((k, embeddings.shape[1]), dtype=np.float64)
    np.add.at(out, labels, embeddings)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)


#: How the speaker count is chosen when not given (``ClusterConfig.count``).
COUNT_METHODS = ("threshold", "eigengap", "nme-sc", "scaled", "vbx")
#: Where VBx's initial AHC stops (``ClusterConfig.vbx_start``).
VBX_STARTS = ("threshold", "scaled")

#: Pruning levels tried by :func:`eigengap_count` (share of each window's neighbours kept).
PRUNING_LEVELS = (0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3)


def eigengap_count(embeddings: np.ndarray, max_count: int = 8, max_windows: int = 1500) -> int:
    """Number of speakers from the spectrum of a pruned affinity graph (no threshold).

    For each pruning level p, every window keeps its ``p * n`` most similar windows as
    neighbours (binary, symmetrised); the Laplacian's eigenvalues are normalised by the
    largest, and the largest gap among the first ``max_count + 1`` gives a count. The level
    with the smallest ratio p / gap wins (a clear gap at light pruning). This is the
    normalised maximum eigengap rule of Park et al. (2020), "Auto-tuning spectral
    clustering for speaker diarization using normalized maximum eigengap". Above
    ``max_windows`` windows, an evenly spaced subset is used.
    """
    n = len(embeddings)
    if n < 6:
        return 1
    if n > max_windows:
        embeddings = embeddings[np.linspace(0, n - 1, max_windows).round().astype(np.int64)]
        n = max_windows
    affinity = cosine_similarity(embeddings)
    order = np.argsort(-affinity, axis=1, kind="stable")
    rows = np.arange(n)[:, None]
    best: tuple[float, int] | None = None
    for p in PRUNING_LEVELS:
        k = max(2, int(round(p * n)))
        graph = np.zeros((n, n))
        graph[rows, order[:, :k]] = 1.0
        graph = 0.5 * (graph + graph.T)
        laplacian = np.diag(graph.sum(axis=1)) - graph
        values = np.linalg.eigvalsh(laplacian)
        values = values / max(values[-1], 1e-12)
        gaps = np.diff(values[: max_count + 1])
        gap = float(gaps.max())
        ratio = p / max(gap, 1e-12)
        if best is None or ratio < best[0]:
            best = (ratio, int(np.argmax(gaps)) + 1)
    assert best is not None
    return best[1]


def neighbour_level(
    embeddings: np.ndarray,
    share: float = 0.05,
    centres: np.ndarray | None = None,
    min_gap: float = 0.0,
    max_windows: int = 2000,
) -> float:
    """Mean cosine similarity of each window to its ``share`` most similar other windows,
    averaged over windows: how alike two stretches of the same voice are in THIS recording
    (its microphone, band, room and noise), measured without knowing who speaks.

    ``centres`` (num_windows,) seconds: windows whose centres are less than ``min_gap``
    apart are not neighbours (windows that share audio are alike whoever speaks)."""
    n = len(embeddings)
    idx = np.arange(n)
    if n > max_windows:
        idx = np.linspace(0, n - 1, max_windows).round().astype(np.int64)
    sim = cosine_similarity(embeddings[idx])
    if centres is not None and min_gap > 0:
        c = np.asarray(centres, dtype=np.float64)[idx]
        sim[np.abs(c[:, None] - c[None, :]) < min_gap] = -np.inf
    np.fill_diagonal(sim, -np.inf)
    k = int(min(len(idx) - 1, max(3, round(share * len(idx)))))
    top = -np.partition(-sim, k - 1, axis=1)[:, :k]
    valid = np.isfinite(top).all(axis=1)
    if not valid.any():
        return 1.0
    return float(top[valid].mean())


def scaled_threshold(
    embeddings: np.ndarray,
    scale: float,
    share: float = 0.05,
    centres: np.ndarray | None = None,
    min_gap: float = 0.0,
) -> float:
    """A stopping threshold set by the recording itself: cosine distance ``scale`` times the
    distance between a window and its nearest same-voice neighbours (:func:`neighbour_level`,
    windows sharing audio excluded).

    Out of the encoder's training domain every similarity moves (through 8 kHz, two different
    voices can score 0.85), but the nearest neighbours move with them, so the distance at
    which voices part is a steadier multiple of the nearest-neighbour distance than a fixed
    value of the similarity."""
    if len(embeddings) < 4:
        return 1.0
    level = neighbour_level(embeddings, share, centres, min_gap)
    return 1.0 - scale * (1.0 - level)


#: Neighbour shares scanned by :func:`nme_sc` (NeMo scans up to 0.15-0.25 of the windows).
NME_LEVELS = np.linspace(0.01, 0.25, 17)


def _pruned_laplacian(affinity: np.ndarray, order: np.ndarray, num_neighbours: int) -> np.ndarray:
    """Laplacian D - A of the binarised, symmetrised ``num_neighbours``-nearest graph."""
    n = len(affinity)
    graph = np.zeros((n, n))
    graph[np.arange(n)[:, None], order[:, :num_neighbours]] = 1.0
    graph = 0.5 * (graph + graph.T)
    return np.diag(graph.sum(axis=1)) - graph


def kmeans(x: np.ndarray, k: int, num_init: int = 10, num_iter: int = 100, seed: int = 0):
    """Lloyd's k-means with k-means++ seeding (Arthur and Vassilvitskii, 2007), the best of
    ``num_init`` starts by inertia; ``x`` (n, d) -> labels (n,) int64. Seeded, so the same
    input gives the same labels."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    rng = np.random.default_rng(seed)
    best_labels, best_inertia = np.zeros(n, dtype=np.int64), np.inf
    for _ in range(num_init):
        centres = [x[rng.integers(n)]]
        for _ in range(1, k):
            d2 = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
            total = d2.sum()
            pick = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
            centres.append(x[pick])
        c = np.array(centres)
        labels = np.zeros(n, dtype=np.int64)
        for _ in range(num_iter):
            d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
            new = np.argmin(d2, axis=1)
            if _ > 0 and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                if np.any(labels == j):
                    c[j] = x[labels == j].mean(axis=0)
        inertia = float(((x - c[labels]) ** 2).sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels


def nme_sc(
    embeddings: np.ndarray,
    max_count: int = 8,
    num_clusters: int | None = None,
    min_count: int = 1,
    seed: int = 0,
) -> Labels:
    """Auto-tuned spectral clustering (NME-SC): Park, Han, Kumar, Narayanan, "Auto-Tuning
    Spectral Clustering for Speaker Diarization Using Normalized Maximum Eigengap", IEEE
    Signal Processing Letters 27, 2020.

    For each pruning level p (the share of each window's most similar windows kept as
    neighbours, binarised and symmetrised), the eigenvalues of the graph Laplacian give the
    normalised maximum eigengap g_p (largest gap among the first ``max_count + 1``
    eigenvalues, divided by the largest eigenvalue); the level with the smallest p / g_p is
    kept (Eq. 8-10 of the paper), its gap gives the count, and k-means on the first k
    eigenvectors gives the labels. No similarity threshold is involved: only the ranking of
    each window's neighbours, which a shift of every similarity (another microphone, another
    band) leaves alone. ``num_clusters`` fixes k; the count is clamped to ``[min_count,
    max_count]``.

    Parameters
    ----------
    embeddings : (num_windows, dim) float32

    Returns
    -------
    labels : (num_windows,) int64 in 0..k-1
    """
    from scipy.linalg import eigh

    n = len(embeddings)
    if n < 6:
        return np.zeros(n, dtype=np.int64)
    affinity = cosine_similarity(embeddings)
    order = np.argsort(-affinity, axis=1, kind="stable")
    top = min(max_count + 1, n - 1)
    best: tuple[float, np.ndarray, int] | None = None
    for p in NME_LEVELS:
        m = max(2, int(round(p * n)))
        laplacian = _pruned_laplacian(affinity, order, m)
        values = np.linalg.eigvalsh(laplacian)
        gaps = np.diff(values[: top + 1]) / max(values[-1], 1e-12)
        ratio = (m / n) / max(float(gaps.max()), 1e-12)
        if best is None or ratio < best[0]:
            best = (ratio, laplacian, int(np.argmax(gaps)) + 1)
    assert best is not None
    _, laplacian, k = best
    if num_clusters is not None:
        k = num_clusters
    k = int(min(max(k, min_count, 1), max_count if num_clusters is None else n, n))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    _, vectors = eigh(laplacian, subset_by_index=[0, k - 1])
    return relabel(kmeans(vectors, k, seed=seed))


def concrete_count(config: ClusterConfig, has_plda: bool) -> ClusterConfig:
    """``config`` with count "auto" made concrete: "vbx" with a PLDA back end, else
    "threshold"."""
    if config.count != "auto":
        return config
    return dataclasses.replace(config, count="vbx" if has_plda else "threshold")


def cluster(
    embeddings: Embeddings,
    config: ClusterConfig,
    threshold: float,
    similarity: Similarity = cosine_similarity,
    centres: np.ndarray | None = None,
    min_gap: float = 0.0,
    plda: PLDA | None = None,
) -> Labels:
    """Cluster window embeddings into speakers.

    Above ``config.max_exact`` windows, AHC runs on an evenly spaced subset and every window
    is then assigned to the nearest resulting centroid, so memory stays O(max_exact^2):
    about 16 bytes per pair of windows (the condensed distances and scipy's copy).

    Parameters
    ----------
    embeddings : (num_windows, dim) float32, L2-normed
    threshold : stopping similarity (in the units of ``similarity``)
    centres : (num_windows,) window centres in seconds, optional (``count = "scaled"``:
        windows closer than ``min_gap`` seconds are not each other's neighbours)
    plda : the model's PLDA back end (``count = "vbx"`` needs it; with ``count = "auto"``
        its presence selects "vbx", its absence "threshold")

    Returns
    -------
    labels : (num_windows,) int64 in 0..k-1
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if config.center:
        embeddings = center(embeddings)
    exact = config.num_speakers
    lo, hi = config.min_speakers, config.max_speakers
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min_speakers ({lo}) is larger than max_speakers ({hi})")
    config = concrete_count(config, plda is not None)
    if config.count not in COUNT_METHODS:
        raise ValueError(f"unknown count method {config.count!r} ({' or '.join(COUNT_METHODS)})")
    if config.count == "nme-sc":
        return _nme_sc_all(embeddings, config, exact, lo, hi)
    scaled = config.count == "scaled" or (config.count == "vbx" and config.vbx_start == "scaled")
    if scaled and similarity is cosine_similarity:
        threshold = scaled_threshold(
            embeddings, config.scale, config.neighbour_share, centres, min_gap
        )
        logger.debug("scaled threshold: %.3f", threshold)
    if config.count == "vbx" and exact is None:
        if plda is None:
            raise ValueError("count 'vbx' needs the model's PLDA back end")
        return _vbx_all(embeddings, config, threshold, similarity, plda, lo, hi)
    if exact is None and config.count == "eigengap":
        exact = eigengap_count(embeddings, config.max_speakers_estimated)
        exact = max(exact, lo) if lo is not None else exact
        exact = min(exact, hi) if hi is not None else exact
        logger.debug("eigengap speaker count: %d", exact)
    return _ahc_all(embeddings, config, similarity, threshold, exact, lo, hi, config.count_spread)


def _ahc_all(
    embeddings: np.ndarray,
    config: ClusterConfig,
    similarity: Similarity,
    threshold: float,
    exact: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
    spread: float = 0.0,
    min_cluster_fraction: float | None = None,
) -> Labels:
    """:func:`ahc_embeddings` on every window, or above ``config.max_exact`` windows on an
    evenly spaced subset of that size whose labels are then given to every window
    (:func:`assign_to_subset`). Clusters under ``min_cluster_fraction`` of the clustered
    windows (default: ``config.min_cluster_fraction``) do not count as speakers."""
    n = len(embeddings)
    fraction = config.min_cluster_fraction if min_cluster_fraction is None else min_cluster_fraction
    if n <= config.max_exact:
        min_size = int(np.ceil(fraction * n))
        return ahc_embeddings(embeddings, similarity, threshold, exact, lo, hi, min_size, spread)
    idx = np.linspace(0, n - 1, config.max_exact).round().astype(np.int64)
    min_size = int(np.ceil(fraction * len(idx)))
    sub = ahc_embeddings(embeddings[idx], similarity, threshold, exact, lo, hi, min_size, spread)
    return assign_to_subset(embeddings, idx, sub, exact is not None or lo is not None)


def assign_to_subset(
    embeddings: np.ndarray, idx: np.ndarray, sub: Labels, keep_count: bool
) -> Labels:
    """Labels for every window from the labels ``sub`` of the windows ``idx``: each window
    goes to the nearest subset centroid, then one refinement pass (centroids from every
    window, reassign). With ``keep_count``, a pass that empties a cluster is undone, so an
    exact or bounded count is not broken."""
    first = relabel(np.argmax(embeddings @ centroids(embeddings[idx], sub).T, axis=1))
    second = relabel(np.argmax(embeddings @ centroids(embeddings, first).T, axis=1))
    if second.max() < first.max() and keep_count:
        return first
    return second


def join_nearest(embeddings: np.ndarray, clustered: np.ndarray, labels: Labels) -> Labels:
    """Labels for every window: the ``clustered`` windows (bool mask) keep ``labels``, every
    other window takes the label of the nearest of their centroids."""
    out = np.empty(len(embeddings), dtype=np.int64)
    out[clustered] = labels
    rest = ~clustered
    if rest.any():
        near = embeddings[rest] @ centroids(embeddings[clustered], labels).T
        out[rest] = np.argmax(near, axis=1)
    return out


def _nme_sc_all(
    embeddings: np.ndarray,
    config: ClusterConfig,
    exact: int | None,
    lo: int | None,
    hi: int | None,
) -> Labels:
    """NME-SC on at most ``config.max_spectral`` evenly spaced windows; the others (on long
    recordings) go to the nearest centroid, refined once (:func:`assign_to_subset`)."""
    n = len(embeddings)
    cap = config.max_speakers_estimated if hi is None else hi
    limit = config.max_spectral
    idx = np.arange(n) if n <= limit else np.linspace(0, n - 1, limit).round().astype(np.int64)
    sub = nme_sc(embeddings[idx], cap, exact, lo or 1, config.seed)
    if len(idx) == n:
        return sub
    return assign_to_subset(embeddings, idx, sub, keep_count=True)


def _vbx_all(
    embeddings: np.ndarray,
    config: ClusterConfig,
    threshold: float,
    similarity: Similarity,
    plda: PLDA,
    lo: int | None,
    hi: int | None,
) -> Labels:
    """VBx (:mod:`diarize.vbx`) started from AHC stopped at ``threshold + config.vbx_init``
    (an over-clustering when ``vbx_init`` > 0); a count outside ``[lo, hi]`` is clamped by
    cutting the AHC tree instead."""
    from diarize.vbx import vbx, vbx_labels

    n = len(embeddings)
    # every small cluster kept: VBx decides which starting clusters are speakers
    start = threshold + config.vbx_init
    if config.vbx_start_floor is not None:
        start = max(start, config.vbx_start_floor)
    # at least vbx_min_start clusters to start from (the AHC tree cut there when the
    # threshold leaves fewer): VBx can merge clusters, not split one
    least = min(config.vbx_min_start, n) if config.vbx_min_start > 1 else None
    init = _ahc_all(embeddings, config, similarity, start, lo=least, min_cluster_fraction=0.0)
    result = vbx(
        plda.project(embeddings, config.vbx_recentre),
        plda.psi,
        init,
        fa=config.vbx_fa,
        fb=config.vbx_fb,
        loop_p=config.vbx_loop,
    )
    min_size = int(np.ceil(config.min_cluster_fraction * n))
    labels = relabel(vbx_labels(result, min_size))
    k = int(labels.max()) + 1
    logger.debug(
        "vbx: %d initial clusters, %d speakers after %d iterations",
        init.max() + 1,
        k,
        len(result.elbo),
    )
    wanted = max(k, lo) if lo is not None else k
    wanted = min(wanted, hi) if hi is not None else wanted
    if wanted == k:
        return labels
    return _ahc_all(embeddings, config, similarity, threshold, wanted)
