import numpy as np
import pytest

from diarize.backend import (
    PLDA,
    _mapped_errors,
    estimate_threshold,
    fit_plda,
    pseudo_labels,
    pseudo_speakers,
    synthetic_mixtures,
)
from diarize.cluster import cosine_similarity


def _speakers(num_speakers=40, per=30, dim=8, between=4.0, within=0.25, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, np.sqrt(between), (num_speakers, dim))
    x = np.repeat(centers, per, axis=0) + rng.normal(0, np.sqrt(within), (num_speakers * per, dim))
    return x, np.repeat(np.arange(num_speakers), per)


def _direct_llr(u, v, psi):
    """Same-vs-different log-likelihood ratio from the Gaussian densities themselves."""
    from scipy.stats import multivariate_normal as mvn

    total = 0.0
    for d, p in enumerate(psi):
        same = mvn(mean=[0, 0], cov=[[p + 1, p], [p, p + 1]]).logpdf([u[d], v[d]])
        diff = mvn(mean=0, cov=p + 1).logpdf(u[d]) + mvn(mean=0, cov=p + 1).logpdf(v[d])
        total += same - diff
    return total


def test_closed_form_llr_matches_gaussian_densities():
    x, y = _speakers()
    plda = fit_plda(x, y)
    u = plda.project(x[:3])
    scores = plda.score_matrix(x[:3])
    for i in range(3):
        for j in range(3):
            assert scores[i, j] == pytest.approx(_direct_llr(u[i], u[j], plda.psi), abs=1e-8)
    np.testing.assert_allclose(plda.score_pairs(x[:3], x[[1, 2, 0]]), scores[[0, 1, 2], [1, 2, 0]])


def test_within_class_is_white_after_projection():
    x, y = _speakers(num_speakers=200, per=20)
    plda = fit_plda(x, y)
    u = plda.project(x)
    resid = np.concatenate([u[y == k] - u[y == k].mean(axis=0) for k in np.unique(y)])
    cov = np.cov(resid, rowvar=False) * (len(resid) - 1) / (len(resid) - 200)
    np.testing.assert_allclose(cov, np.eye(cov.shape[0]), atol=0.05)
    assert (plda.psi[:-1] >= plda.psi[1:]).all() and plda.psi.min() > 1.0


def test_same_speaker_pairs_score_higher():
    x, y = _speakers()
    plda = fit_plda(x, y)
    s = plda.score_matrix(x)
    same = s[y[:, None] == y[None, :]].mean()
    diff = s[y[:, None] != y[None, :]].mean()
    assert same > 0 > diff


def test_round_trip_through_tensors():
    pytest.importorskip("torch")  # checkpoints hold tensors (the train extra)
    x, y = _speakers()
    plda = fit_plda(x, y, rank=4)
    back = PLDA.from_dict(plda.to_dict())
    np.testing.assert_allclose(back.score_matrix(x[:5]), plda.score_matrix(x[:5]))
    assert back.transform.shape == (8, 4)


def test_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        fit_plda(np.ones((5, 3)), np.zeros(5))


def test_mapped_errors_by_hand():
    truth = np.array([0, 0, 0, 1, 1, 2])
    assert _mapped_errors(truth, np.array([5, 5, 5, 7, 7, 9])) == 0
    assert _mapped_errors(truth, np.array([1, 1, 1, 1, 1, 1])) == 3  # best class keeps 3
    assert _mapped_errors(truth, np.array([1, 1, 2, 3, 3, 3])) == 2


def test_pseudo_speakers_split_each_recording_and_drop_small_clusters():
    rng = np.random.default_rng(0)
    a, b = np.eye(4)[0], np.eye(4)[1]
    rec1 = np.concatenate(
        [a + 0.01 * rng.standard_normal((10, 4)), b + 0.01 * rng.standard_normal((2, 4))]
    )
    rec2 = a + 0.01 * rng.standard_normal((6, 4))  # same direction, other recording
    emb, lab = pseudo_speakers([rec1, rec2], threshold=0.5, min_size=4)
    assert len(emb) == 16 and sorted(np.bincount(lab).tolist()) == [6, 10]


def test_pseudo_labels_number_across_recordings_and_mark_small_clusters():
    rng = np.random.default_rng(1)
    a, b, c = np.eye(4)[0], np.eye(4)[1], np.eye(4)[2]

    def near(direction, n):
        return direction + 0.01 * rng.standard_normal((n, 4))

    rec1 = np.concatenate([near(a, 5), near(b, 2), near(c, 4)])  # b: too few windows
    rec2 = near(a, 3)  # too short to cluster
    rec3 = near(b, 6)
    labels = pseudo_labels([rec1, rec2, rec3], threshold=0.5, min_size=4)
    assert [len(x) for x in labels] == [11, 3, 6]
    assert labels[1].tolist() == [-1, -1, -1]
    assert labels[0][5:7].tolist() == [-1, -1]
    # a and c in the first recording are two pseudo-speakers, the third recording's b a third
    assert len(set(labels[0][:5])) == 1 and len(set(labels[0][7:])) == 1
    assert sorted({*labels[0][:5], *labels[0][7:], *labels[2]}) == [0, 1, 2]
    assert len(set(labels[2])) == 1 and labels[2][0] == 2


def test_threshold_estimate_separates_orthogonal_speakers():
    rng = np.random.default_rng(0)
    dirs = np.linalg.qr(rng.standard_normal((16, 16)))[0]
    x = np.repeat(dirs, 20, axis=0) + 0.05 * rng.standard_normal((320, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.repeat(np.arange(16), 20)
    mixtures = synthetic_mixtures(x, y, 30, np.random.default_rng(1))
    candidates = np.linspace(-0.5, 0.99, 31)
    thr, errors = estimate_threshold(mixtures, cosine_similarity, candidates)
    assert errors.min() == 0.0
    # Same-speaker similarity is ~0.96, cross-speaker ~0: a good threshold lies between.
    assert 0.1 < thr < 0.9
    assert errors[-1] > 0  # a threshold of 0.99 over-splits


def test_cross_scores_are_the_blocks_of_the_square_matrix():
    x, y = _speakers()
    plda = fit_plda(x, y)
    square = plda.score_matrix(x[:9])
    np.testing.assert_allclose(plda.score_matrix(x[:4], x[4:9]), square[:4, 4:9])
    np.testing.assert_allclose(plda.score_matrix(x[4:9], x[:4]), square[4:9, :4])


def test_project_recentre_removes_what_all_rows_share():
    x, y = _speakers()
    plda = fit_plda(x, y)
    rows = x[:50]
    shifted = rows + np.linspace(-3, 3, x.shape[1])  # one vector added to every row
    np.testing.assert_allclose(plda.project(rows, 1.0), plda.project(shifted, 1.0), atol=1e-9)
    assert not np.allclose(plda.project(rows), plda.project(shifted), atol=1e-3)
    np.testing.assert_array_equal(plda.project(rows, 0.0), plda.project(rows))
    # half the rows' own offset from the back end's mean removed, before length norm
    half = rows - 0.5 * (rows.mean(axis=0) - plda.mean)
    np.testing.assert_allclose(plda.project(rows, 0.5), plda.project(half), atol=1e-9)
