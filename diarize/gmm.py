"""Diagonal-covariance Gaussian mixtures fitted by EM, in numpy (the second resegmentation
pass's speaker models).

It does what scikit-learn's ``GaussianMixture(covariance_type="diag",
init_params="k-means++", n_init=1)`` does, step for step and in the same dtype (float32
data stays float32, as there), so that it gives scikit-learn's numbers without importing
scikit-learn (a second or more of start-up, and tens of MB of install): the initial means are
the points chosen by k-means++ seeding (Arthur and Vassilvitskii 2007, with 2 + ln k local
trials per centre, distances taken in float64 blocks), each starting as a one-point component,
then EM (Dempster, Laird and Rubin 1977) until the mean log-likelihood moves by less than
``tol`` or ``max_iter`` iterations. The tests compare it with scikit-learn where that is
installed.
"""

from __future__ import annotations

import math

import numpy as np

LOG_2PI = math.log(2 * math.pi)


def _row_norms_squared(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances of float32 rows, computed in float64
    blocks (sized as scikit-learn sizes them, so the products are the same) and returned as
    float32, clipped at 0."""
    num_a, num_features = a.shape
    num_b = b.shape[0]
    maxmem = max(((num_a + num_b) * num_features + num_a * num_b) / 10, 10 * 2**17)
    tmp = 2 * num_features
    batch = max(int((-tmp + math.sqrt(tmp**2 + 4 * maxmem)) / 2), 1)
    out = np.empty((num_a, num_b), dtype=np.float32)
    for i in range(0, num_a, batch):
        a64 = a[i : i + batch].astype(np.float64)
        aa = _row_norms_squared(a64)[:, None]
        for j in range(0, num_b, batch):
            b64 = b[j : j + batch].astype(np.float64)
            d = -2 * (a64 @ b64.T)
            d += aa
            d += _row_norms_squared(b64)[None, :]
            out[i : i + batch, j : j + batch] = d.astype(np.float32, copy=False)
    np.maximum(out, 0, out=out)
    return out


def kmeans_plusplus_indices(
    x: np.ndarray, num_clusters: int, rng: np.random.RandomState
) -> np.ndarray:
    """Indices of ``num_clusters`` rows of ``x`` chosen by greedy k-means++ seeding."""
    num_samples = x.shape[0]
    weight = np.ones(num_samples, dtype=x.dtype)
    num_trials = 2 + int(np.log(num_clusters))
    indices = np.full(num_clusters, -1, dtype=int)
    indices[0] = rng.choice(num_samples, p=weight / weight.sum())
    closest = _squared_distances(x[indices[0]][None], x)
    potential = closest @ weight
    for c in range(1, num_clusters):
        # Candidates drawn with probability proportional to the squared distance to the
        # nearest chosen centre; the one that lowers the potential most is kept.
        targets = rng.uniform(size=num_trials) * potential
        candidates = np.searchsorted(np.cumsum(weight * closest), targets)
        np.clip(candidates, None, closest.size - 1, out=candidates)
        dist = _squared_distances(x[candidates], x)
        np.minimum(closest, dist, out=dist)
        potentials = dist @ weight.reshape(-1, 1)
        best = np.argmin(potentials)
        potential = potentials[best]
        closest = dist[best]
        indices[c] = candidates[best]
    return indices


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=1)), the largest term factored out exactly."""
    a_max = np.max(a, axis=1, keepdims=True)
    is_max = a == a_max
    rest = np.array(a, copy=True)
    rest[is_max] = -np.inf
    m = np.sum(is_max.astype(a.dtype), axis=1, keepdims=True, dtype=a.dtype)
    shift = np.where(np.isfinite(a_max), a_max, 0)
    e = np.exp(rest - shift)
    s = np.sum(e, axis=1, keepdims=True, dtype=e.dtype)
    s = np.where(s == 0, s, s / m)
    return np.squeeze(np.log1p(s) + np.log(m) + a_max, axis=1)


class DiagonalGMM:
    """A mixture of ``num_components`` diagonal Gaussians.

    Parameters
    ----------
    num_components : components of the mixture
    reg_covar : added to every variance
    max_iter : EM iterations at most
    tol : EM stops when the mean log-likelihood changes by less than this
    seed : seeds the k-means++ draws (a ``numpy.random.RandomState``, as scikit-learn's)

    Attributes after :meth:`fit`: ``weights`` (k,), ``means`` (k, dim), ``covariances``
    (k, dim), ``converged``, ``num_iter``.
    """

    def __init__(
        self,
        num_components: int,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        tol: float = 1e-3,
        seed: int = 0,
    ):
        self.num_components = num_components
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed

    def _estimate_parameters(self, x: np.ndarray, resp: np.ndarray) -> None:
        nk = np.sum(resp, axis=0) + 10 * np.finfo(resp.dtype).eps
        means = (resp.T @ x) / nk[:, None]
        covariances = (resp.T @ (x * x)) / nk[:, None] - means**2 + self.reg_covar
        if np.any(covariances <= 0.0):
            raise ValueError("a mixture component collapsed (variance <= 0)")
        self.weights, self.means, self.covariances = nk, means, covariances
        self._precisions_chol = 1.0 / np.sqrt(covariances)

    def _weighted_log_prob(self, x: np.ndarray) -> np.ndarray:
        """(n, k) log(weight_k) + log N(x | mean_k, diag(cov_k))."""
        prec_chol = self._precisions_chol
        log_det = np.sum(np.log(prec_chol), axis=1)
        precisions = prec_chol**2
        means = self.means
        maha = (
            np.sum(means**2 * precisions, axis=1)
            - 2.0 * (x @ (means * precisions).T)
            + (x**2 @ precisions.T)
        )
        log_prob = -0.5 * (x.shape[1] * LOG_2PI + maha) + log_det
        return log_prob + np.log(self.weights)

    def _e_step(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        weighted = self._weighted_log_prob(x)
        norm = _logsumexp(weighted)
        with np.errstate(under="ignore"):
            log_resp = weighted - norm[:, None]
        return np.mean(norm), log_resp

    def fit(self, x: np.ndarray) -> DiagonalGMM:
        """Fit on ``x`` (n, dim), float32 or float64 (kept as given)."""
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        num_samples = x.shape[0]
        if num_samples < max(self.num_components, 2):
            raise ValueError(f"{num_samples} samples for {self.num_components} components")
        rng = np.random.RandomState(self.seed)
        resp = np.zeros((num_samples, self.num_components), dtype=x.dtype)
        chosen = kmeans_plusplus_indices(x, self.num_components, rng)
        resp[chosen, np.arange(self.num_components)] = 1
        self._estimate_parameters(x, resp)
        self.weights = self.weights / num_samples
        lower_bound = -np.inf
        self.converged = False
        self.num_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            previous = lower_bound
            lower_bound, log_resp = self._e_step(x)
            self._estimate_parameters(x, np.exp(log_resp))
            self.weights = self.weights / np.sum(self.weights)
            self.num_iter = n_iter
            if abs(lower_bound - previous) < self.tol:
                self.converged = True
                break
        return self

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        """(n,) log-likelihood of each row of ``x`` under the mixture."""
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        return _logsumexp(self._weighted_log_prob(x))
