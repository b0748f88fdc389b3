import itertools

import numpy as np
import pytest

from diarize.backend import PLDA
from diarize.cluster import cluster
from diarize.config import ClusterConfig
from diarize.vbx import _forward_backward, vbx, vbx_labels


def _brute_force(loglik, loop_p, pi):
    """Posteriors, log p(X) and expected jumps by summing over every state path."""
    num_frames, num_states = loglik.shape
    trans = loop_p * np.eye(num_states) + (1 - loop_p) * pi[None, :]
    gamma = np.zeros_like(loglik)
    jumps = np.zeros(num_states)
    total = 0.0
    for path in itertools.product(range(num_states), repeat=num_frames):
        p = pi[path[0]] * np.exp(loglik[0, path[0]])
        for t in range(1, num_frames):
            p *= trans[path[t - 1], path[t]] * np.exp(loglik[t, path[t]])
        total += p
        gamma[np.arange(num_frames), list(path)] += p
        # the first window, and at every step the share of the transition that is a jump
        jumps[path[0]] += p
        for t in range(1, num_frames):
            jump = (1 - loop_p) * pi[path[t]]
            jumps[path[t]] += p * jump / trans[path[t - 1], path[t]]
    return gamma / total, np.log(total), jumps / total


def test_forward_backward_equals_the_sum_over_all_paths():
    rng = np.random.default_rng(0)
    loglik = rng.normal(size=(5, 3)) * 2 - 40  # far from 0: the scaling must hold
    pi = np.array([0.5, 0.3, 0.2])
    gamma, log_px, jumps = _forward_backward(loglik, 0.8, pi)
    want_gamma, want_log_px, want_jumps = _brute_force(loglik, 0.8, pi)
    np.testing.assert_allclose(gamma, want_gamma, rtol=1e-10)
    assert log_px == pytest.approx(want_log_px, rel=1e-12)
    np.testing.assert_allclose(jumps, want_jumps, rtol=1e-10)


def _speakers(means, lengths, phi, seed=0):
    """Windows in the PLDA space: speaker offsets + identity noise, one turn per speaker."""
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [m + rng.standard_normal((n, len(phi))) for m, n in zip(means, lengths, strict=True)]
    )
    return x, np.repeat(np.arange(len(lengths)), lengths)


def test_vbx_merges_an_over_clustering_back_to_the_true_speakers():
    phi = np.full(8, 4.0)
    rng = np.random.default_rng(1)
    means = [rng.standard_normal(8) * 2.0 for _ in range(2)]
    x, truth = _speakers(means, [80, 60], phi)
    # 5 initial clusters, each speaker cut in pieces
    init = np.array([0] * 40 + [1] * 40 + [2] * 20 + [3] * 20 + [4] * 20)
    result = vbx(x, phi, init, fa=0.3, fb=4.0, loop_p=0.99)
    labels = vbx_labels(result)
    assert len(np.unique(labels)) == 2
    assert np.all(labels[truth == 0] == labels[0]) and np.all(labels[truth == 1] == labels[-1])
    assert np.all(np.diff(result.elbo) > -1e-6 * len(x))  # variational Bayes never goes down
    assert result.pi.sum() == pytest.approx(1.0)


def test_vbx_keeps_one_speaker_when_the_windows_hold_one():
    phi = np.full(8, 4.0)
    x, _ = _speakers([np.full(8, 1.5)], [150], phi, seed=3)
    init = np.arange(150) % 4  # an arbitrary split into 4
    labels = vbx_labels(vbx(x, phi, init, fa=0.3, fb=4.0, loop_p=0.99))
    assert len(np.unique(labels)) == 1


def test_vbx_labels_ignore_speakers_that_own_too_few_windows():
    gamma = np.array(
        [[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.2, 0.3, 0.5], [0.1, 0.9, 0.0], [0.1, 0.8, 0.1]]
    )
    from diarize.vbx import VBxResult

    result = VBxResult(gamma=gamma, pi=np.full(3, 1 / 3), elbo=np.zeros(1))
    assert vbx_labels(result).tolist() == [0, 0, 2, 1, 1]
    # speaker 2 owns one window: it goes to the next most responsible speaker
    assert vbx_labels(result, min_size=2).tolist() == [0, 0, 1, 1, 1]


def _identity_plda(dim):
    """A PLDA whose projection is the identity up to the length normalisation."""
    return PLDA(
        mean=np.zeros(dim),
        whiten=np.eye(dim),
        transform=np.eye(dim),
        psi=np.full(dim, 4.0),
    )


def _two_voice_embeddings(seed=0):
    rng = np.random.default_rng(seed)
    dim = 16
    centres = np.linalg.qr(rng.standard_normal((dim, dim)))[0][:2] * np.sqrt(dim)
    noise = 0.5 * rng.standard_normal((110, dim))
    x = np.concatenate([centres[0] + noise[:60], centres[1] + noise[60:]])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat([0, 1], [60, 50])


def test_cluster_by_vbx_finds_two_voices_and_honours_the_bounds():
    x, truth = _two_voice_embeddings()
    plda = _identity_plda(x.shape[1])
    config = ClusterConfig(count="vbx", vbx_fb=4.0)
    labels = cluster(x, config, threshold=0.5, plda=plda)
    assert labels.tolist() == truth.tolist()
    one = cluster(x, ClusterConfig(count="vbx", max_speakers=1), threshold=0.5, plda=plda)
    assert np.all(one == 0)
    three = cluster(x, ClusterConfig(count="vbx", min_speakers=3), threshold=0.5, plda=plda)
    assert len(np.unique(three)) == 3
    exact = cluster(x, ClusterConfig(count="vbx", num_speakers=2), threshold=0.5, plda=plda)
    assert exact.tolist() == truth.tolist()


def test_cluster_by_vbx_needs_a_plda():
    x, _ = _two_voice_embeddings()
    with pytest.raises(ValueError, match="PLDA"):
        cluster(x, ClusterConfig(count="vbx"), threshold=0.5)


def _with_shared_offset(voices: int, seed: int):
    """Windows of one or two voices that all share a large common component (what one room
    and one microphone add to every window), L2-normed as the encoder gives them."""
    rng = np.random.default_rng(seed)
    dim = 16
    axes = np.linalg.qr(rng.standard_normal((dim, dim)))[0][:3] * np.sqrt(dim)
    noise = 0.5 * rng.standard_normal((110, dim))
    centres = np.where(np.arange(110)[:, None] < 60, axes[0], axes[voices - 1])
    x = centres + noise + 4.0 * axes[2]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat([0, voices - 1], [60, 50])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vbx_recentre_undoes_a_shared_offset_and_keeps_one_voice_one(seed):
    plda = _identity_plda(16)
    two, truth = _with_shared_offset(2, seed)
    plain = cluster(two, ClusterConfig(count="vbx"), threshold=0.5, plda=plda)
    assert np.all(plain == 0)  # the offset hides the second voice from VBx
    recentred = ClusterConfig(count="vbx", vbx_recentre=1.0)
    assert cluster(two, recentred, threshold=0.5, plda=plda).tolist() == truth.tolist()
    one, _ = _with_shared_offset(1, seed)
    assert np.all(cluster(one, recentred, threshold=0.5, plda=plda) == 0)
