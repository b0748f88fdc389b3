"""Average-linkage agglomerative clustering in numpy: ``linkage(y, "average")`` gives the
linkage matrix that ``scipy.cluster.hierarchy.linkage`` gives, value for value.

Importing ``scipy.cluster.hierarchy`` costs about 0.4 s of CPU (it brings ``scipy.spatial``,
``scipy.linalg`` and ``scipy.special`` along), a third of what diarizing a short recording
takes from start to exit; this module needs numpy only.

Algorithm: the nearest-neighbour chain (Murtagh 1983; Müllner 2011, "Modern hierarchical,
agglomerative clustering algorithms", arXiv:1109.2378, algorithm NN-chain-linkage), with
the average-linkage (UPGMA) update of Lance and Williams (1967),
``d(x u y, i) = (|x| d(x, i) + |y| d(y, i)) / (|x| + |y|)``, in float64 on the condensed
distances. Ties are broken as scipy breaks them (the previous link of the chain first, then
the lowest index), the merges are sorted by height with a stable sort and the clusters
labelled as scipy labels them, so the result is the same to the last bit. Each step of the
chain scans one row of the distance matrix with numpy: about 3n row scans and n row updates,
which costs more than scipy's compiled loop once n is large; above :data:`NUMPY_MAX`
observations, where clustering itself takes longer than the import, scipy's is used.
"""

from __future__ import annotations

import numpy as np

#: Above this many observations, scipy's compiled implementation (same result) is used.
NUMPY_MAX = 2000


def _num_obs(condensed: np.ndarray) -> int:
    m = len(condensed)
    n = int(np.ceil(np.sqrt(2 * m)))
    if n * (n - 1) // 2 != m:
        raise ValueError(f"{m} distances are not a condensed distance matrix")
    return n


def linkage(y: np.ndarray, method: str = "average") -> np.ndarray:
    """Average-linkage clustering of a condensed distance matrix (``scipy.cluster.hierarchy
    .linkage(y, "average")``).

    Parameters
    ----------
    y : (n (n - 1) / 2,) distances, scipy's condensed order (row by row, upper triangle)
    method : only "average"

    Returns
    -------
    Z : (n - 1, 4) float64 linkage matrix (scipy's format: the two clusters merged, the
        distance between them, the size of the new cluster; new clusters are n, n + 1, ...)
    """
    if method != "average":
        raise ValueError(f"only average linkage is implemented, not {method!r}")
    dist = np.array(y, dtype=np.float64, copy=True).reshape(-1)
    if not np.all(np.isfinite(dist)):
        raise ValueError("The condensed distance matrix must contain only finite values.")
    n = _num_obs(dist)
    if n > NUMPY_MAX:
        from scipy.cluster.hierarchy import linkage as scipy_linkage

        return scipy_linkage(dist, method="average")
    z = np.empty((max(n - 1, 0), 4))
    if n < 2:
        return z
    ids = np.arange(n, dtype=np.int64)
    # Condensed index of (i, j), i < j: start[i] + j - i - 1 = lower[i] + j.
    start = n * ids - ids * (ids + 1) // 2
    lower = start - ids - 1

    def row_index(x: int, cols: np.ndarray) -> np.ndarray:
        """Condensed indices of (x, i) for the ascending clusters ``cols`` (x itself, if
        there: a placeholder)."""
        split = int(np.searchsorted(cols, x))
        out = np.empty(len(cols), dtype=np.int64)
        np.add(lower[cols[:split]], x, out=out[:split])
        np.add(cols[split:], start[x] - x - 1, out=out[split:])
        return out

    size = np.ones(n, dtype=np.int64)
    active = ids.copy()  # the clusters left, ascending
    chain: list[int] = []
    for k in range(n - 1):
        if not chain:
            chain.append(int(active[0]))
        # Follow nearest neighbours until two clusters are each other's nearest.
        while True:
            x = chain[-1]
            row = dist[row_index(x, active)]
            row[np.searchsorted(active, x)] = np.inf
            pos = int(np.argmin(row))  # the lowest index among equal distances
            if len(chain) > 1:
                # The previous link of the chain wins ties, so the chain cannot cycle.
                prev = chain[-2]
                current = float(row[np.searchsorted(active, prev)])
                if row[pos] < current:
                    y_, current = int(active[pos]), float(row[pos])
                else:
                    y_ = prev
            else:
                y_, current = int(active[pos]), float(row[pos])
            if len(chain) > 1 and y_ == chain[-2]:
                break
            chain.append(y_)
        del chain[-2:]
        a, b = (x, y_) if x < y_ else (y_, x)
        na, nb = int(size[a]), int(size[b])
        z[k] = a, b, current, na + nb
        # Cluster b becomes the union; a is dropped.
        size[b] = na + nb
        active = np.delete(active, np.searchsorted(active, a))
        others = np.delete(active, np.searchsorted(active, b))
        ia, ib = row_index(a, others), row_index(b, others)
        dist[ib] = (na * dist[ia] + nb * dist[ib]) / (na + nb)
    z = z[np.argsort(z[:, 2], kind="mergesort")]
    _label(z, n)
    return z


def _label(z: np.ndarray, n: int) -> None:
    """Cluster ids in merge order (n, n + 1, ...) and sizes, in place (union-find)."""
    parent = np.arange(2 * n - 1)
    sizes = np.ones(2 * n - 1, dtype=np.int64)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for i in range(n - 1):
        ra, rb = find(int(z[i, 0])), find(int(z[i, 1]))
        z[i, 0], z[i, 1] = (ra, rb) if ra < rb else (rb, ra)
        label = n + i
        parent[ra] = parent[rb] = label
        sizes[label] = sizes[ra] + sizes[rb]
        z[i, 3] = sizes[label]
