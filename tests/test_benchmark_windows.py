"""The window-pair EER benchmark's labelling and trials, on hand-made references."""

import numpy as np

from benchmarks.windows import equal_error_rate, frame_speakers, trials, window_speakers
from diarize.types import Diarization, Turn

SR = 16000


def reference() -> Diarization:
    # A speaks 0-4 s, B 3-8 s (overlap 3-4 s), silence 8-10 s.
    return Diarization("r", (Turn(0.0, 4.0, "A"), Turn(3.0, 8.0, "B")), 10.0)


def test_frame_speakers_marks_silence_overlap_and_the_one_speaker():
    frames = frame_speakers(reference(), 1000)
    assert (frames[:300] == 0).all()  # A alone
    assert (frames[300:400] == -2).all()  # overlap
    assert (frames[400:800] == 1).all()  # B alone
    assert (frames[800:] == -1).all()  # nobody


def test_window_speakers_keeps_only_pure_windows():
    frames = frame_speakers(reference(), 1000)
    bounds = np.array([[0.0, 1.5], [2.0, 3.5], [2.5, 4.0], [5.0, 6.5], [7.5, 9.0]]) * SR
    labels = window_speakers(bounds.astype(np.int64), frames, SR)
    # [2.0, 3.5]: 1/3 overlap; [2.5, 4.0]: 2/3 overlap; [7.5, 9.0]: 2/3 silence.
    assert labels.tolist() == [0, -1, -1, 1, -1]


def test_trials_pair_only_labelled_windows_that_do_not_overlap():
    bounds = (np.array([[0, 1.5], [1.0, 2.5], [2.0, 3.5], [5.0, 6.5]]) * SR).astype(np.int64)
    labels = np.array([0, 0, -1, 1])
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    target, nontarget = trials(bounds, emb, labels)
    # Windows 0 and 1 overlap (no trial); 2 is unlabelled; 0-3 and 1-3 are non-targets.
    assert len(target) == 0
    np.testing.assert_allclose(nontarget, [0.6, 0.6], rtol=1e-6)


def test_trials_score_the_same_pairs_with_a_plda_back_end():
    class Plda:  # stands in for diarize.backend.PLDA: minus the squared distance
        def score_pairs(self, x, y):
            return -np.sum((x - y) ** 2, axis=1)

    bounds = (np.array([[0, 1.5], [2.0, 3.5], [5.0, 6.5]]) * SR).astype(np.int64)
    labels = np.array([0, 0, 1])
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    target, nontarget = trials(bounds, emb, labels, Plda())
    # 0-1 the same speaker and the same vector; 0-2 and 1-2 orthogonal unit vectors: -2
    np.testing.assert_allclose(target, [0.0])
    np.testing.assert_allclose(nontarget, [-2.0, -2.0])


def test_equal_error_rate_of_separable_and_of_identical_scores():
    assert equal_error_rate(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 0.0
    assert equal_error_rate(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.5
    assert np.isnan(equal_error_rate(np.array([0.5]), np.array([])))
