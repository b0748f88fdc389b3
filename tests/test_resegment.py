import numpy as np

from diarize.config import ResegmentConfig
from diarize.resegment import (
    _absorb_short,
    frame_scores,
    local_speakers,
    resegment,
    to_turns,
    viterbi,
)


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


def test_local_speakers_by_hand():
    # 50 windows 2 samples apart (centres 0, 2, ..., 98): speaker 0 up to centre 48 except
    # one stray window of speaker 2 at centre 10; speaker 1 from centre 50 on.
    centres = np.arange(0, 100, 2)
    bounds = np.stack([centres - 1, centres + 1], axis=1)
    labels = np.where(centres < 50, 0, 1)
    labels[centres == 10] = 2
    regions = np.array([[0, 20], [80, 90]])
    # Region [0, 20] with a horizon of 10 sees the windows centred in [-10, 30]: 16 of them,
    # 15 of speaker 0 and 1 (6.25 %) of speaker 2. Region [80, 90] sees 70..98: speaker 1.
    strict = local_speakers(bounds, labels, regions, horizon=10, k=3, min_share=0.1)
    assert strict.tolist() == [[True, False, False], [False, True, False]]
    loose = local_speakers(bounds, labels, regions, horizon=10, k=3, min_share=0.05)
    assert loose.tolist() == [[True, False, True], [False, True, False]]


def test_a_speaker_far_away_is_not_a_candidate():
    # Speaker 0 talks at [0, 100) with embedding (0.8, 0.6) and at [1000, 1100) with (1, 0);
    # speaker 1 talks at [2000, 2100) with (0.6, 0.8). The first region's windows are closer
    # to speaker 1's centroid (0.96) than to speaker 0's (0.95), but speaker 1 is far away.
    bounds = np.array([[0, 50], [50, 100], [1000, 1050], [1050, 1100], [2000, 2050], [2050, 2100]])
    emb = np.array([[0.8, 0.6]] * 2 + [[1.0, 0.0]] * 2 + [[0.6, 0.8]] * 2, dtype=np.float32)
    labels = np.array([0, 0, 0, 0, 1, 1])
    regions = np.array([[0, 100], [1000, 1100], [2000, 2100]])

    def run(horizon):
        cfg = ResegmentConfig(frame_step=0.01, min_duration=0.02, local_horizon=horizon)
        return resegment(bounds, emb, labels, regions, 2100, cfg, sample_rate=1000)

    assert run(0.5)[0] == (0, 100, 0)  # 500 samples: only speaker 0 is near
    assert run(0.0)[0] == (0, 100, 1)  # every speaker everywhere
