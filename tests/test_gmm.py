"""The numpy Gaussian mixtures of the second resegmentation pass."""

from __future__ import annotations

import numpy as np
import pytest

from diarize.gmm import DiagonalGMM, kmeans_plusplus_indices


def _blobs(n=1500, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    centre = rng.integers(0, 3, (n, 1)) * 2.0
    return (rng.standard_normal((n, dim)) * rng.uniform(0.5, 2, dim) + centre).astype(np.float32)


def test_two_separated_clusters_are_found():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-5, 1, (300, 2)), rng.normal(5, 1, (300, 2))])
    gmm = DiagonalGMM(2, reg_covar=1e-3, max_iter=50, seed=0).fit(x)
    assert gmm.converged
    np.testing.assert_allclose(np.sort(gmm.means[:, 0]), [-5, 5], atol=0.3)
    np.testing.assert_allclose(gmm.weights, [0.5, 0.5], atol=0.05)
    # Log-likelihoods: a point at a centre beats one between them.
    near, between = gmm.score_samples(np.array([[5.0, 5.0], [0.0, 0.0]]))
    assert near > between


def test_seeding_picks_distinct_points_and_is_seeded():
    x = _blobs()
    a = kmeans_plusplus_indices(x, 8, np.random.RandomState(3))
    b = kmeans_plusplus_indices(x, 8, np.random.RandomState(3))
    assert len(set(a.tolist())) == 8 and np.array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 3])
def test_same_numbers_as_scikit_learn(seed):
    """Step for step what GaussianMixture(diag, k-means++) computes, in the same dtype:
    the same parameters and log-likelihoods, bit for bit (scikit-learn 1.9; other releases
    may round differently, hence the tolerance)."""
    mixture = pytest.importorskip("sklearn.mixture")
    import warnings

    x, y = _blobs(seed=seed), _blobs(500, seed=seed + 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 10 iterations do not converge; expected
        ref = mixture.GaussianMixture(
            n_components=8,
            covariance_type="diag",
            reg_covar=1e-3,
            max_iter=10,
            init_params="k-means++",
            random_state=seed,
        ).fit(x)
    ours = DiagonalGMM(8, reg_covar=1e-3, max_iter=10, seed=seed).fit(x)
    assert ours.num_iter == ref.n_iter_
    np.testing.assert_allclose(ours.means, ref.means_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.covariances, ref.covariances_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.score_samples(y), ref.score_samples(y), rtol=1e-6, atol=1e-5)
