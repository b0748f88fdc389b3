import numpy as np

from diarize.config import ResegmentConfig
from diarize.resegment import _absorb_short, frame_scores, resegment, to_turns, viterbi


def test_frame_scores_average_overlapping_windows():
    bounds = np.array([[0, 4], [2, 6]])
    scores = np.array([[1.0, 0.0], [0.0, 1.0]])
    frame, count = frame_scores(bounds, scores, num_frames=6, frame_samples=1)
    assert count.tolist() == [1, 1, 2, 2, 1, 1]
    np.testing.assert_allclose(frame[:, 0], [1, 1, 0.5, 0.5, 0, 0])


def test_viterbi_ignores_blip_shorter_than_penalty():
    ll = np.zeros((10, 2))
    ll[:, 0] = 1.0
    ll[5, :] = [0.0, 2.0]  # one frame prefers speaker 1 by 2 < 2 switches * 3
    assert viterbi(ll, switch_penalty=3.0).tolist() == [0] * 10
    assert viterbi(ll, switch_penalty=0.1).tolist() == [0] * 5 + [1] + [0] * 4


def test_viterbi_follows_a_real_change():
    ll = np.zeros((10, 2))
    ll[:5, 0] = 1.0
    ll[5:, 1] = 1.0
    assert viterbi(ll, 2.0).tolist() == [0] * 5 + [1] * 5


def test_absorb_short_runs():
    path = np.array([0, 0, 0, 1, 0, 0, 2, 2, 2, 2])
    scores = np.zeros((10, 3))
    out = _absorb_short(path, scores, min_frames=2)
    assert out.tolist() == [0] * 6 + [2] * 4


def test_resegment_two_speakers_exact_boundaries():
    # Windows of speaker 0 cover [0, 100), speaker 1 covers [100, 200); one speech region.
    bounds = np.array([[0, 50], [50, 100], [100, 150], [150, 200]])
    emb = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    cfg = ResegmentConfig(frame_step=0.001, min_duration=0.002)
    segs = resegment(bounds, emb, labels, np.array([[0, 200]]), 200, cfg, sample_rate=1000)
    assert segs == [(0, 100, 0), (100, 200, 1)]
    turns = to_turns(segs, sample_rate=1000)
    assert [(t.start, t.end, t.speaker) for t in turns] == [
        (0.0, 0.1, "SPEAKER_00"),
        (0.1, 0.2, "SPEAKER_01"),
    ]


def test_regions_without_windows_get_the_nearest_label():
    bounds = np.array([[0, 100]])
    emb = np.array([[1.0, 0.0]], dtype=np.float32)
    segs = resegment(
        bounds,
        emb,
        np.array([0]),
        np.array([[0, 100], [150, 160]]),
        200,
        ResegmentConfig(frame_step=0.01),
        sample_rate=1000,
    )
    assert segs == [(0, 100, 0), (150, 160, 0)]


def test_speaker_names_in_order_of_first_appearance():
    turns = to_turns([(0, 10, 3), (10, 20, 1), (20, 30, 3)], sample_rate=10)
    assert [t.speaker for t in turns] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]


def test_overlap_frames_get_the_second_best_speaker():
    # Speaker 0 windows on [0, 100), speaker 1 on [100, 200); frames 80..120 are overlap.
    bounds = np.array([[0, 50], [50, 100], [100, 150], [150, 200]])
    emb = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    cfg = ResegmentConfig(frame_step=0.001, min_duration=0.002)
    overlap = np.zeros(200, dtype=bool)
    overlap[80:120] = True
    segs = resegment(bounds, emb, labels, np.array([[0, 200]]), 200, cfg, 1000, overlap=overlap)
    assert sorted(segs) == [(0, 100, 0), (80, 100, 1), (100, 120, 0), (100, 200, 1)]
    turns = to_turns(segs, sample_rate=1000)
    assert [(t.start, t.end, t.speaker) for t in turns] == [
        (0.0, 0.12, "SPEAKER_00"),
        (0.08, 0.2, "SPEAKER_01"),
    ]


def test_to_turns_merges_per_speaker_across_interleaving():
    segs = [(0, 10, 0), (5, 15, 1), (10, 20, 0), (15, 30, 1)]
    turns = to_turns(segs, sample_rate=10)
    assert [(t.start, t.end, t.speaker) for t in turns] == [
        (0.0, 2.0, "SPEAKER_00"),
        (0.5, 3.0, "SPEAKER_01"),
    ]
