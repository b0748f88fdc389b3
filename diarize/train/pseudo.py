"""Pseudo-speaker labels from the encoder's own embeddings (no human labels).

Average-linkage agglomerative clustering on cosine distance; the cut is the distance that
maximises the number of clusters holding at least ``min_cluster`` windows (too low a cut leaves
only small clusters, too high a cut merges voices into few big ones). Within each such cluster
the ``keep_fraction`` of windows closest to its centroid are kept.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage


def cluster_windows(
    embeddings: np.ndarray, min_cluster: int = 5, keep_fraction: float = 0.8
) -> tuple[np.ndarray, np.ndarray, str]:
    """Cluster L2-normed ``embeddings`` (num_windows, dim).

    Returns
    -------
    labels : (num_windows,) int64, cluster index (dense over kept clusters; -1 elsewhere)
    keep : (num_windows,) bool, windows kept for training
    info : a one-line description (cut, clusters, kept share)
    """
    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(x)
    if n < 2 * min_cluster:
        return np.full(n, -1, np.int64), np.zeros(n, bool), "too few windows"
    tree = linkage(x, method="average", metric="cosine")
    heights = tree[:, 2]
    best = (-1, 0.0, None)
    for cut in np.quantile(heights, np.linspace(0.5, 0.995, 60)):
        raw = fcluster(tree, t=cut, criterion="distance")
        sizes = np.bincount(raw)
        count = int(np.sum(sizes >= min_cluster))
        if count > best[0]:
            best = (count, float(cut), raw)
    count, cut, raw = best
    sizes = np.bincount(raw)
    valid = np.flatnonzero(sizes >= min_cluster)
    labels = np.full(n, -1, np.int64)
    keep = np.zeros(n, bool)
    for new, c in enumerate(valid):
        members = np.flatnonzero(raw == c)
        centroid = x[members].mean(0)
        sim = x[members] @ (centroid / max(np.linalg.norm(centroid), 1e-12))
        num_keep = max(min_cluster, int(round(keep_fraction * len(members))))
        kept = members[np.argsort(-sim)[:num_keep]]
        labels[members] = new
        keep[kept] = True
    info = f"cut {cut:.3f}, {count} clusters of >= {min_cluster}, kept {keep.mean():.0%}"
    return labels, keep, info
