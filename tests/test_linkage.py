"""The numpy average linkage gives scipy's linkage matrix, ties included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage as scipy_linkage

from diarize.linkage import NUMPY_MAX, linkage


def test_by_hand():
    # Points 0, 1, 5 on a line: 0 and 1 merge at 1, then {0, 1} and 5 at (5 + 4) / 2.
    z = linkage(np.array([1.0, 5.0, 4.0]))
    np.testing.assert_array_equal(z, [[0, 1, 1.0, 2], [2, 3, 4.5, 3]])
    assert linkage(np.zeros(0)).shape == (0, 4)


@pytest.mark.parametrize("kind", ["uniform", "ties", "embeddings"])
def test_same_matrix_as_scipy(kind):
    rng = np.random.default_rng(len(kind))
    for n in (2, 3, 17, 150):
        m = n * (n - 1) // 2
        if kind == "uniform":
            y = rng.random(m)
        elif kind == "ties":
            y = rng.integers(0, 4, m).astype(float)  # many equal distances
        else:
            e = rng.standard_normal((n, 8))
            e /= np.linalg.norm(e, axis=1, keepdims=True)
            iu = np.triu_indices(n, 1)
            y = np.maximum(1.0 - (e @ e.T)[iu], 0.0)
        np.testing.assert_array_equal(linkage(y), scipy_linkage(y, method="average"))


def test_large_inputs_use_scipy_and_bad_inputs_are_refused():
    n = NUMPY_MAX + 1
    y = np.random.default_rng(0).random(n * (n - 1) // 2)
    np.testing.assert_array_equal(linkage(y), scipy_linkage(y, method="average"))
    with pytest.raises(ValueError, match="condensed"):
        linkage(np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        linkage(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="average"):
        linkage(np.ones(3), method="single")
