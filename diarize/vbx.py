"""Bayesian HMM clustering of window embeddings (VBx).

Landini, Profant, Diez, Burget, "Bayesian HMM clustering of x-vector sequences (VBx) in
speaker diarization", Computer Speech & Language 71 (2022); equation numbers below are the
paper's.

The windows, in order, are the observations of an HMM whose states are speakers. In the PLDA
space (:meth:`diarize.backend.PLDA.project`: within-speaker covariance = identity, speaker
covariance = ``diag(Phi)``) an observation of speaker ``s`` is ``x_t = V y_s + e_t`` with
``V = diag(sqrt(Phi))``, ``y_s ~ N(0, I)`` and ``e_t ~ N(0, I)``. Variational Bayes alternates
between the speakers' posterior ``q(y_s) = N(alpha_s, L_s^-1)`` and the windows' speaker
responsibilities ``gamma`` (forward-backward over the HMM); speakers that explain nothing lose
their prior weight ``pi`` and drop out, so the count comes out of the posterior instead of a
similarity threshold. Starts from an over-clustering by AHC.

Hyper-parameters: ``Fa`` scales the observations' log-likelihoods (windows overlap, so they
are not independent), ``Fb`` the speaker prior (larger = fewer speakers), ``loop_p`` the
probability of staying with the same speaker from one window to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VBxResult:
    """What :func:`vbx` converged to.

    Attributes
    ----------
    gamma : (num_windows, num_speakers) responsibilities, rows sum to 1
    pi : (num_speakers,) speaker priors, sum to 1
    elbo : (num_iterations,) evidence lower bound after each iteration
    """

    gamma: np.ndarray
    pi: np.ndarray
    elbo: np.ndarray


def _forward_backward(
    loglik: np.ndarray, loop_p: float, pi: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Posteriors of an HMM whose transitions are ``loop_p * I + (1 - loop_p) * 1 pi'``.

    Scaled (not log-domain) recursions: every step is renormalised and the scales give
    ``log p(X)``. The transition matrix is never built: ``f A = loop_p f + (1 - loop_p)
    pi sum(f)``, so a step costs O(num_speakers).

    Parameters
    ----------
    loglik : (T, S) log p(x_t | s)
    pi : (S,) initial and jump-target probabilities

    Returns
    -------
    gamma : (T, S) state posteriors
    log_px : log p(x_1..x_T)
    jumps : (S,) expected number of jumps (from any state) into each state, the first
        window counted as one (the statistics of the pi update)
    """
    num_frames, num_states = loglik.shape
    peak = loglik.max(axis=1, keepdims=True)
    lik = np.exp(loglik - peak)
    forward = np.empty_like(lik)
    scale = np.empty(num_frames)
    f = pi * lik[0]
    scale[0] = f.sum()
    forward[0] = f / scale[0]
    stay, move = loop_p, (1.0 - loop_p) * pi
    for t in range(1, num_frames):
        f = (stay * forward[t - 1] + move) * lik[t]  # sum(forward[t - 1]) == 1
        scale[t] = f.sum()
        forward[t] = f / scale[t]
    backward = np.empty_like(lik)
    backward[-1] = 1.0
    for t in range(num_frames - 1, 0, -1):
        b = lik[t] * backward[t]
        backward[t - 1] = (stay * b + move @ b) / scale[t]
    gamma = forward * backward
    gamma /= gamma.sum(axis=1, keepdims=True)
    log_px = float(np.sum(np.log(scale)) + np.sum(peak))
    # Jumps into s at t: sum_s' forward[t-1, s'] (1 - loop_p) pi_s lik[t, s] backward[t, s]
    # / scale[t] (the forward rows sum to 1).
    into = (lik[1:] * backward[1:]) / scale[1:, None]
    jumps = gamma[0] + move * into.sum(axis=0)
    return gamma, log_px, jumps


def vbx(
    x: np.ndarray,
    phi: np.ndarray,
    init_labels: np.ndarray,
    fa: float = 0.3,
    fb: float = 17.0,
    loop_p: float = 0.99,
    init_smoothing: float = 7.0,
    max_iterations: int = 20,
    epsilon: float = 1e-4,
) -> VBxResult:
    """Variational Bayes inference of the speaker HMM.

    Parameters
    ----------
    x : (T, D) embeddings in the PLDA space (within-speaker covariance = identity)
    phi : (D,) speaker (between-class) variances there
    init_labels : (T,) int, an over-clustering to start from
    init_smoothing : the initial responsibilities are ``softmax(init_smoothing * onehot)``
    epsilon : stop when the ELBO improves by less than this (relative to T)
    """
    x = np.asarray(x, dtype=np.float64)
    phi = np.asarray(phi, dtype=np.float64)
    num_frames, dim = x.shape
    num_states = int(init_labels.max()) + 1
    onehot = np.zeros((num_frames, num_states))
    onehot[np.arange(num_frames), init_labels] = 1.0
    gamma = np.exp(init_smoothing * onehot)
    gamma /= gamma.sum(axis=1, keepdims=True)
    pi = np.full(num_states, 1.0 / num_states)
    # G_t = log N(x_t; 0, I) and rho_t = V' x_t (eq. 19-20)
    g = -0.5 * (np.sum(x * x, axis=1) + dim * np.log(2 * np.pi))
    rho = x * np.sqrt(phi)
    ratio = fa / fb
    elbos: list[float] = []
    for _ in range(max_iterations):
        counts = gamma.sum(axis=0)
        inv_l = 1.0 / (1.0 + ratio * counts[:, None] * phi[None, :])  # eq. 17, diagonal
        alpha = ratio * inv_l * (gamma.T @ rho)  # eq. 16
        # eq. 23: log p(x_t | s), scaled by Fa
        loglik = fa * (g[:, None] + rho @ alpha.T - 0.5 * ((inv_l + alpha**2) @ phi)[None, :])
        gamma, log_px, jumps = _forward_backward(loglik, loop_p, pi)
        pi = jumps / jumps.sum()  # eq. 24
        # eq. 25: the ELBO, with the KL divergence of q(y_s) from its prior
        elbo = log_px + 0.5 * fb * float(np.sum(np.log(inv_l) - inv_l - alpha**2 + 1.0))
        elbos.append(elbo)
        if len(elbos) > 1 and elbos[-1] - elbos[-2] < epsilon * num_frames:
            break
    return VBxResult(gamma=gamma, pi=pi, elbo=np.array(elbos))


def vbx_labels(result: VBxResult, min_size: int = 1) -> np.ndarray:
    """Each window's most responsible speaker, among the speakers that own at least
    ``min_size`` windows (all of them when none does). Labels are not renumbered."""
    owners = np.argmax(result.gamma, axis=1)
    sizes = np.bincount(owners, minlength=result.gamma.shape[1])
    keep = sizes >= max(1, min_size)
    if not keep.any():
        keep = sizes > 0
    masked = np.where(keep[None, :], result.gamma, -1.0)
    return np.argmax(masked, axis=1)
