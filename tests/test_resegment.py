import numpy as np

from diarize.config import ResegmentConfig
from diarize.resegment import (
    _absorb_short,
    candidate_speakers,
    frame_scores,
    local_speakers,
    refine_gmm,
    remove_background,
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


def test_viterbi_matches_exhaustive_search():
    import itertools

    rng = np.random.default_rng(3)
    for _ in range(20):
        loglik = rng.standard_normal((6, 3)) * 2
        penalty = float(rng.uniform(0, 3))

        def score(path, loglik=loglik, penalty=penalty):
            switches = sum(a != b for a, b in zip(path[:-1], path[1:], strict=True))
            return loglik[np.arange(6), list(path)].sum() - penalty * switches

        best = max(score(p) for p in itertools.product(range(3), repeat=6))
        assert np.isclose(score(tuple(viterbi(loglik, penalty))), best)


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


# --- second pass on short-term features ---------------------------------------------------

HOP = 160  # 10 ms frames at 16 kHz


def _two_voice_frames(num_frames=1000, change=500, seed=0):
    """Frames of speaker 0 ~ N(+2, 1) before ``change``, of speaker 1 ~ N(-2, 1) after."""
    rng = np.random.default_rng(seed)
    frames = rng.standard_normal((num_frames, 4)).astype(np.float32)
    frames[:change] += 2.0
    frames[change:] -= 2.0
    return frames


def _gmm_config(**kw):
    return ResegmentConfig(**{"gmm_rounds": 2, "gmm_components": 2, **kw})


def test_refine_moves_a_late_boundary_to_the_change():
    frames = _two_voice_frames()
    # First pass: the change placed 0.6 s late (frame 560 instead of 500).
    segments = [(0, 560 * HOP, 0), (560 * HOP, 1000 * HOP, 1)]
    regions = np.array([[0, 1000 * HOP]])
    out = refine_gmm(segments, frames, HOP, regions, np.ones((1, 2), bool), _gmm_config())
    assert [spk for _, _, spk in out] == [0, 1]
    assert out[0][0] == 0 and out[-1][1] == 1000 * HOP  # region edges kept exactly
    # Within half the smoothing width (0.1 s) of the true change: the averaged
    # log-likelihoods of a clean model (speaker 1) and a blurred one (speaker 0, trained on
    # the 0.6 s it was wrongly given) cross a little after the change.
    assert 500 * HOP <= out[0][1] <= 510 * HOP
    assert out[0][1] == out[1][0]


def test_refine_is_off_with_zero_rounds_and_keeps_silence_out():
    frames = _two_voice_frames()
    segments = [(0, 560 * HOP, 0), (560 * HOP, 900 * HOP, 1)]
    regions = np.array([[0, 900 * HOP]])
    ok = np.ones((1, 2), bool)
    assert refine_gmm(segments, frames, HOP, regions, ok, _gmm_config(gmm_rounds=0)) == segments
    out = refine_gmm(segments, frames, HOP, regions, ok, _gmm_config())
    assert max(e for _, e, _ in out) == 900 * HOP  # nothing labelled outside the regions


def test_refine_respects_candidates():
    frames = _two_voice_frames()
    segments = [(0, 560 * HOP, 0), (560 * HOP, 1000 * HOP, 1)]
    regions = np.array([[0, 1000 * HOP]])
    # Speaker 1 is not a candidate in this region: the region keeps its first-pass labels
    # (fewer than two candidates can be modelled there).
    only_0 = np.array([[True, False]])
    assert refine_gmm(segments, frames, HOP, regions, only_0, _gmm_config()) == segments


def test_refine_leaves_a_region_with_an_unmodelled_speaker():
    frames = _two_voice_frames()
    # Speaker 2 has 0.5 s (50 frames): too little for a model, so its region is untouched.
    segments = [(0, 450 * HOP, 0), (450 * HOP, 500 * HOP, 2), (500 * HOP, 1000 * HOP, 1)]
    regions = np.array([[0, 1000 * HOP]])
    out = refine_gmm(segments, frames, HOP, regions, np.ones((1, 3), bool), _gmm_config())
    assert out == segments


def test_refine_keep_all_restores_a_vanishing_speaker():
    frames = _two_voice_frames(num_frames=1500, change=1000)
    # Speaker 2 was given 2 s in the middle of speaker 0's voice: the pass hands them to 0.
    segments = [(0, 400 * HOP, 0), (400 * HOP, 600 * HOP, 2), (600 * HOP, 1000 * HOP, 0)]
    segments.append((1000 * HOP, 1500 * HOP, 1))
    regions = np.array([[0, 1500 * HOP]])
    ok = np.ones((1, 3), bool)
    cfg = _gmm_config(gmm_components=1)
    dropped = refine_gmm(segments, frames, HOP, regions, ok, cfg)
    assert {spk for _, _, spk in dropped} == {0, 1}
    kept = refine_gmm(segments, frames, HOP, regions, ok, cfg, keep_all=True)
    assert (400 * HOP, 600 * HOP, 2) in kept


def test_candidate_speakers_all_when_local_set_off():
    bounds = np.array([[0, 10], [10, 20]])
    labels = np.array([0, 1])
    regions = np.array([[0, 20]])
    off = ResegmentConfig(local_horizon=0.0)
    assert candidate_speakers(bounds, labels, regions, 3, off).tolist() == [[True, True, True]]


def test_refine_models_are_local_to_blocks():
    # Two 10 s stretches 30 s apart; the "channel" flips between them, so each voice's
    # frames look like the other's far away. Local models (10 s blocks) still correct both
    # late boundaries.
    rng = np.random.default_rng(1)
    frames = rng.standard_normal((4000, 4)).astype(np.float32)
    frames[0:500] += 2.0  # speaker 0, first stretch
    frames[500:1000] -= 2.0  # speaker 1
    frames[3000:3500] -= 2.0  # speaker 0, second stretch, flipped
    frames[3500:4000] += 2.0  # speaker 1
    segments = [(0, 560 * HOP, 0), (560 * HOP, 1000 * HOP, 1)]
    segments += [(3000 * HOP, 3560 * HOP, 0), (3560 * HOP, 4000 * HOP, 1)]
    regions = np.array([[0, 1000 * HOP], [3000 * HOP, 4000 * HOP]])
    out = refine_gmm(
        segments, frames, HOP, regions, np.ones((2, 2), bool), _gmm_config(gmm_block=10.0)
    )
    changes = [end for (_, end, spk) in out if spk == 0]
    assert len(out) == 4 and [spk for *_, spk in out] == [0, 1, 0, 1]
    assert 500 * HOP <= changes[0] <= 510 * HOP
    assert 3500 * HOP <= changes[1] <= 3510 * HOP
    # One set of models for the whole input mixes both channels in each voice's model,
    # and the pass then cannot tell the two voices apart in either stretch.
    whole = refine_gmm(
        segments, frames, HOP, regions, np.ones((2, 2), bool), _gmm_config(gmm_block=0.0)
    )
    assert len(whole) < 4


HOP = 160  # 10-ms frames at 16 kHz


def _background_recording(seed=0):
    """MFCC-like frames of a recording worked out by hand: background (a cloud around +3 in
    every dimension) in frames 0-299 and 600-999, speech (around -3) in frames 300-599, except
    a background pause in frames 420-449. The output's one segment spans frames 280-620: 20
    frames of background padding on each side, and the pause inside."""
    rng = np.random.default_rng(seed)
    frames = 3.0 + rng.standard_normal((1000, 6))
    frames[300:600] -= 6.0
    frames[420:450] += 6.0
    return frames.astype(np.float16), [(280 * HOP, 620 * HOP, 0)]


def test_background_frames_are_cut_out_of_a_turn():
    frames, segments = _background_recording()
    out = remove_background(segments, frames, HOP, ResegmentConfig())
    # the padding and the pause go, within the smoothing (0.2 s: 10 frames either way)
    assert len(out) == 2 and all(spk == 0 for _, _, spk in out)
    (a0, b0, _), (a1, b1, _) = out
    assert abs(a0 / HOP - 300) <= 10 and abs(b0 / HOP - 420) <= 10
    assert abs(a1 / HOP - 450) <= 10 and abs(b1 / HOP - 600) <= 10


def test_background_carving_leaves_what_it_cannot_judge():
    frames, segments = _background_recording()
    off = ResegmentConfig(background=False)
    assert remove_background(segments, frames, HOP, off) == segments
    # less background than background_seconds (7 s here) far from the speech
    short = ResegmentConfig(background_seconds=7.0)
    assert remove_background(segments, frames, HOP, short) == segments
    # a background that sounds like the speech: the two models barely tell their own frames
    # apart, so nothing is cut
    same = np.random.default_rng(1).standard_normal((1000, 6)).astype(np.float16)
    assert remove_background(segments, same, HOP, ResegmentConfig()) == segments


def test_background_carving_keeps_a_speaker_it_would_erase_when_asked_to():
    frames, segments = _background_recording()
    # a second speaker whose only segment is background (frames 700-720)
    segments = segments + [(700 * HOP, 720 * HOP, 1)]
    dropped = remove_background(segments, frames, HOP, ResegmentConfig())
    assert {spk for _, _, spk in dropped} == {0}
    kept = remove_background(segments, frames, HOP, ResegmentConfig(), keep_all=True)
    assert (700 * HOP, 720 * HOP, 1) in kept


def test_background_models_are_local_to_blocks():
    # Two 40 s stretches whose background and speech swap places: in the first the background
    # sits around +3 and the speech (frames 1700-2299) around -3, in the second the background
    # around -3 and the speech (5700-6299) around +3. One pair of models for the whole
    # recording learns both clouds in each model, tells nothing apart and cuts nothing; with
    # 10 s blocks (models from the 20 s around each) each turn's padding goes, as alone.
    rng = np.random.default_rng(2)
    frames = rng.standard_normal((8000, 6))
    frames[:4000] += 3.0
    frames[1700:2300] -= 6.0
    frames[4000:] -= 3.0
    frames[5700:6300] += 6.0
    frames = frames.astype(np.float16)
    segments = [(1650 * HOP, 2350 * HOP, 0), (5650 * HOP, 6350 * HOP, 1)]
    whole = remove_background(segments, frames, HOP, ResegmentConfig(background_block=0.0))
    assert whole == segments
    local = remove_background(segments, frames, HOP, ResegmentConfig(background_block=10.0))
    assert [spk for *_, spk in local] == [0, 1]
    for (a, b, _), (ref_a, ref_b) in zip(local, ((1700, 2300), (5700, 6300)), strict=True):
        assert abs(a / HOP - ref_a) <= 10 and abs(b / HOP - ref_b) <= 10


def test_to_turns_bridges_pauses_shorter_than_min_pause():
    # Speaker 0: [0, 10), [13, 20), [25, 30) samples at 10 Hz: pauses of 0.3 s and 0.5 s.
    # Speaker 1 talks inside the first pause; it does not stop the bridge.
    segs = [(0, 10, 0), (13, 20, 0), (11, 12, 1), (25, 30, 0)]

    def spans(min_pause):
        turns = to_turns(segs, sample_rate=10, min_pause=min_pause)
        return [(t.start, t.end, t.speaker) for t in turns]

    separate = [
        (0.0, 1.0, "SPEAKER_00"),
        (1.1, 1.2, "SPEAKER_01"),
        (1.3, 2.0, "SPEAKER_00"),
        (2.5, 3.0, "SPEAKER_00"),
    ]
    assert spans(0.0) == separate
    assert spans(0.3) == separate  # a pause of exactly min_pause stays
    assert spans(0.4) == [
        (0.0, 2.0, "SPEAKER_00"),
        (1.1, 1.2, "SPEAKER_01"),
        (2.5, 3.0, "SPEAKER_00"),
    ]
    assert spans(0.6) == [(0.0, 3.0, "SPEAKER_00"), (1.1, 1.2, "SPEAKER_01")]
