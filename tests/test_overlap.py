"""Overlapped speech: regions from frame probabilities, and who the second speaker is."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from diarize.config import OverlapConfig, PipelineConfig, update_config
from diarize.errors import ConfigError, ModelError
from diarize.overlap import (
    FRAME_HOP,
    FRAME_OFFSET,
    OVERLAP_FEATURES,
    OverlapDetector,
    near_turn_changes,
    overlap_model_path,
    overlap_probability,
    overlap_regions,
    second_speakers,
    window_probability,
)

SR = 16000


def _config(**kw) -> OverlapConfig:
    return dataclasses.replace(OverlapConfig(), **kw)


def test_regions_of_a_square_pulse():
    # Frames 100-199 (1.00-1.99 s) are overlapped; frame t is centred on 160 t + 200, so
    # the region runs from the edge between frames 99 and 100 to that between 199 and 200.
    probs = np.zeros(400, dtype=np.float32)
    probs[100:200] = 0.9
    bounds = overlap_regions(probs, _config(smooth=0.0, threshold=0.5))
    assert bounds.tolist() == [[100 * 160 + 120, 200 * 160 + 120]]


def test_regions_shorter_than_min_duration_are_dropped():
    probs = np.zeros(400, dtype=np.float32)
    probs[50:55] = 0.9  # 50 ms
    probs[200:230] = 0.9  # 300 ms
    bounds = overlap_regions(probs, _config(smooth=0.0, min_duration=0.1))
    assert len(bounds) == 1 and bounds[0, 0] == 200 * 160 + 120


def test_smoothing_removes_isolated_frames():
    probs = np.zeros(400, dtype=np.float32)
    probs[100] = 1.0  # one frame: a 0.1-s average brings it to 0.1
    assert len(overlap_regions(probs, _config(smooth=0.0, min_duration=0.0))) == 1
    assert len(overlap_regions(probs, _config(smooth=0.1, min_duration=0.0))) == 0


def test_nothing_above_threshold():
    assert overlap_regions(np.full(100, 0.2), _config()).shape == (0, 2)


def test_second_speaker_is_the_nearest_other_in_time():
    # A speaks 0-10 s, B 10-12 s, A 12-20 s, C 30-40 s. An overlap at 11.5-12.5 s lies in
    # B's turn (11.5-12) and in A's (12-12.5): B's part gets A, A's part gets B (touching).
    segs = [(0, 10 * SR, 0), (10 * SR, 12 * SR, 1), (12 * SR, 20 * SR, 0), (30 * SR, 40 * SR, 2)]
    out = second_speakers(segs, np.array([[int(11.5 * SR), int(12.5 * SR)]]), 5 * SR)
    assert sorted(out) == [(int(11.5 * SR), 12 * SR, 0), (12 * SR, int(12.5 * SR), 1)]


def test_second_speaker_prefers_the_closer_of_two():
    # Overlap at 5-6 s inside A's turn (0-20 s): B starts 15 s after it ends, C 20 s after,
    # so B is the nearer; a 5-s cap on the distance drops it.
    segs = [(0, 20 * SR, 0), (21 * SR, 25 * SR, 1), (26 * SR, 30 * SR, 2)]
    overlap = np.array([[5 * SR, 6 * SR]])
    assert second_speakers(segs, overlap, 20 * SR) == [(5 * SR, 6 * SR, 1)]
    assert second_speakers(segs, overlap, 5 * SR) == []


def test_no_second_speaker_in_a_one_speaker_recording():
    segs = [(0, 5 * SR, 0), (6 * SR, 9 * SR, 0)]
    assert second_speakers(segs, np.array([[SR, 2 * SR]]), 100 * SR) == []


def test_overlap_outside_every_turn_adds_nothing():
    segs = [(0, 5 * SR, 0), (6 * SR, 9 * SR, 1)]
    assert second_speakers(segs, np.array([[int(5.2 * SR), int(5.8 * SR)]]), 10 * SR) == []


def test_config_section_is_read_and_checked():
    config = update_config(PipelineConfig(), {"overlap": {"enabled": True, "threshold": 0.7}})
    assert config.overlap.enabled and config.overlap.threshold == 0.7
    with pytest.raises(ConfigError):
        update_config(PipelineConfig(), {"overlap": {"threshold": -1.0}})
    with pytest.raises(ConfigError):
        update_config(PipelineConfig(), {"overlap": {"nonsense": 1}})


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="overlap detector is missing"):
        overlap_model_path(tmp_path / "absent.onnx")


def _shipped_detector() -> OverlapDetector:
    pytest.importorskip("onnxruntime")
    try:
        return OverlapDetector.load()
    except ModelError:
        pytest.skip("no overlap detector in models/")


def test_long_input_in_pieces_gives_the_one_call_answer(monkeypatch):
    detector = _shipped_detector()
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((700, 64)).astype(np.float32)
    whole = detector.session.run(None, {"features": feats[None]})[0][0]
    monkeypatch.setattr("diarize.overlap._FRAMES_PER_CALL", 128)
    pieces = detector.logits(feats)
    np.testing.assert_allclose(pieces, whole, rtol=1e-4, atol=1e-4)


def test_frame_grid_is_the_front_ends():
    """Frame t of the detector's front end spans samples [160 t, 160 t + 400)."""
    from diarize.features import LogMel

    front = LogMel(OVERLAP_FEATURES)
    assert (FRAME_HOP, FRAME_OFFSET) == (160, 200)
    assert front.hop_samples == FRAME_HOP and front.win_samples == 2 * FRAME_OFFSET
    # A click at sample 160 * 7 + 200 lies in frames 6 to 8 and is centred in frame 7.
    x = np.zeros(SR, dtype=np.float32)
    x[FRAME_HOP * 7 + FRAME_OFFSET] = 1.0
    energy = np.exp(front(x[None])[0]).sum(axis=1)
    assert int(np.argmax(energy)) == 7


def test_probabilities_are_zero_outside_speech_regions():
    detector = _shipped_detector()
    rng = np.random.default_rng(1)
    wave = (0.1 * rng.standard_normal(10 * SR)).astype(np.float32)
    probs = overlap_probability(wave, np.array([[6 * SR, 7 * SR]]), detector)
    assert probs.shape == (998,)
    # Computed from 5 s to 8 s (1 s of audio each side of the region), zero elsewhere.
    assert np.all(probs[:490] == 0) and np.all(probs[810:] == 0)
    assert np.all((probs >= 0) & (probs <= 1)) and probs[600:700].max() > 0


def _active(d, t):
    """The speakers of ``d`` talking at ``t`` seconds."""
    return {turn.speaker for turn in d.turns if turn.start <= t < turn.end}


def _with_and_without_overlap(encoder, monkeypatch, overlapped: slice, turn_window: float):
    """The synthetic conversation A 0-3 s, B 3.5-6.5 s, A 7-10 s, B 10.5-13.5 s diarized
    into two speakers with the detector replaced by one that reports the 10-ms frames
    ``overlapped`` (and nothing else), and the same with no overlap detector."""
    from diarize.pipeline import Pipeline
    from tests.conftest import SYNTH_CONFIG, conversation

    x, _ = conversation()

    def fake_probability(waveform, regions, detector, sample_rate=16000):
        probs = np.zeros((len(waveform) - 400) // 160 + 1, dtype=np.float32)
        probs[overlapped] = 0.95
        return probs

    monkeypatch.setattr("diarize.overlap.OverlapDetector.load", lambda path="": None)
    monkeypatch.setattr("diarize.overlap.overlap_probability", fake_probability)
    on = {"enabled": True, "smooth": 0.0, "turn_window": turn_window}
    with_overlap = Pipeline(update_config(SYNTH_CONFIG, {"overlap": on}), encoder=encoder)
    plain = Pipeline(update_config(SYNTH_CONFIG, {"overlap": {"enabled": False}}), encoder=encoder)
    return with_overlap(x, num_speakers=2), plain(x, num_speakers=2)


def test_pipeline_adds_the_other_voice_where_overlap_is_found(tiny_encoder, monkeypatch):
    # The detector reports overlap from 1 to 2 s, inside A's first turn; with no turn window
    # the only other speaker, B, is added there and nowhere else.
    with_overlap, plain = _with_and_without_overlap(
        tiny_encoder, monkeypatch, slice(100, 200), turn_window=0.0
    )
    assert all(len(_active(plain, t)) <= 1 for t in np.arange(0, 13.5, 0.05))
    for t in np.arange(1.05, 1.95, 0.05):
        assert len(_active(with_overlap, t)) == 2
    for t in [*np.arange(0.0, 0.95, 0.05), *np.arange(2.05, 13.5, 0.05)]:
        assert _active(with_overlap, t) == _active(plain, t)


def test_turn_changes_are_found_by_hand():
    # Hop 100, frame t centred on 100 t + 50. 0 -> 1 with a 200-sample pause: a change at
    # 1100; 1 -> 1 (touching): none; 1 -> 0 after a 2000-sample pause: a change at 4000.
    segs = [(0, 1000, 0), (1200, 2000, 1), (2000, 3000, 1), (5000, 6000, 0)]
    near = near_turn_changes(segs, 70, window=150, hop=100, offset=50)
    # centres 950, 1050, 1150, 1250 lie within 150 of 1100; 3850-4150 within 150 of 4000
    assert np.flatnonzero(near).tolist() == [9, 10, 11, 12, 38, 39, 40, 41]
    # Order of the list does not matter; frames past the end are not made; one speaker has
    # no change.
    assert np.array_equal(near_turn_changes(segs[::-1], 70, 150, 100, 50), near)
    assert np.flatnonzero(near_turn_changes(segs, 11, 150, 100, 50)).tolist() == [9, 10]
    assert not near_turn_changes([(0, 1000, 0), (1100, 2000, 0)], 30, 500, 100, 50).any()


def test_overlap_regions_keep_only_frames_near_a_change():
    # Overlap frames 100-199 and 400-499 (10-ms frames: 1-2 s and 4-5 s); a change of
    # speaker at 4.5 s (A to 4.4 s, B from 4.6 s). With a 0.3-s turn window only 4.2-4.8 s
    # of the overlap remain, i.e. frames whose centres (160 t + 200) lie in 67200-76800
    # samples: t = 419..478 (bounds 80 samples either side of the centres).
    probs = np.zeros(700)
    probs[100:200] = probs[400:500] = 0.9
    segs = [(0, 70400, 0), (73600, 112000, 1)]
    config = _config(smooth=0.0, min_duration=0.0, turn_window=0.3)
    bounds = overlap_regions(probs, config, segments=segs)
    assert bounds.tolist() == [[419 * 160 + 120, 479 * 160 + 120]]
    # turn_window 0, or no segments given: both overlaps stay
    assert len(overlap_regions(probs, _config(smooth=0.0, turn_window=0.0), segments=segs)) == 2
    assert len(overlap_regions(probs, config)) == 2


def test_sure_overlap_counts_away_from_a_change():
    # As above, but the far overlap (frames 100-199) is at 0.95 and the near one at 0.7: with
    # anywhere_threshold 0.9 the far one stays whole, the near one only within the window;
    # at 0.96 (or the default, 1) the far one goes.
    probs = np.zeros(700)
    probs[100:200], probs[400:500] = 0.95, 0.7
    segs = [(0, 70400, 0), (73600, 112000, 1)]
    config = _config(smooth=0.0, min_duration=0.0, turn_window=0.3, anywhere_threshold=0.9)
    bounds = overlap_regions(probs, config, segments=segs)
    far = [100 * 160 + 120, 200 * 160 + 120]
    near = [419 * 160 + 120, 479 * 160 + 120]
    assert bounds.tolist() == [far, near]
    for higher in (0.96, 1.0):
        sure = _config(smooth=0.0, min_duration=0.0, turn_window=0.3, anywhere_threshold=higher)
        assert overlap_regions(probs, sure, segments=segs).tolist() == [near]
    with pytest.raises(ConfigError):
        update_config(PipelineConfig(), {"overlap": {"anywhere_threshold": 1.5}})


def test_pipeline_adds_overlap_only_next_to_a_change(tiny_encoder, monkeypatch):
    # The detector reports overlap over 1-4 s; with a 0.4-s turn window only the part within
    # 0.4 s of the A -> B change (about 3.25 s) gets a second speaker: the end of A's turn
    # gets B, the start of B's gets A.
    out, plain = _with_and_without_overlap(
        tiny_encoder, monkeypatch, slice(100, 400), turn_window=0.4
    )
    first, second = sorted(plain.turns, key=lambda turn: turn.start)[:2]
    assert first.speaker != second.speaker and second.start - first.end < 1.0
    change = (first.end + second.start) / 2
    both = {first.speaker, second.speaker}
    for t in np.arange(change - 0.38, first.end - 0.01, 0.01):
        assert _active(out, t) == both, t
    for t in np.arange(second.start + 0.01, change + 0.38, 0.01):
        assert _active(out, t) == both, t
    for t in [*np.arange(0.0, change - 0.42, 0.02), *np.arange(change + 0.42, 13.5, 0.02)]:
        assert _active(out, t) == _active(plain, t), t


def test_shipped_detector_files_are_the_ones_the_model_card_names():
    from diarize.encoder import MODELS_DIR, sha256sum

    card = (MODELS_DIR / "README.md").read_text(encoding="utf-8")
    for name in ("overlap-v2.onnx", "overlap-v2.json"):
        assert sha256sum(MODELS_DIR / name) in card, name


def test_command_line_flag_sets_the_config(tmp_path):
    from diarize.pipeline import RunOptions

    toml = tmp_path / "c.toml"
    toml.write_text("[overlap]\nenabled = false\n", encoding="utf-8")
    assert RunOptions().build_config().overlap.enabled  # on by default
    assert not RunOptions(overlap=False).build_config().overlap.enabled
    assert not RunOptions(config_path=toml).build_config().overlap.enabled
    assert RunOptions(config_path=toml, overlap=True).build_config().overlap.enabled


def test_window_probability_is_the_mean_over_the_frames_centred_inside():
    # Hop 100, frame t centred on 100 t + 50; probabilities 0, 1, 2, ..., 9.
    probs = np.arange(10, dtype=np.float16)
    # [0, 300): centres 50, 150, 250 -> frames 0-2, mean 1; [260, 560): centres 350-550 ->
    # frames 3-5, mean 4; [950, 2000): centre 950 -> frame 9 only; [10, 40): no centre -> 0
    bounds = np.array([[0, 300], [260, 560], [950, 2000], [10, 40]])
    got = window_probability(probs, bounds, hop=100, offset=50)
    np.testing.assert_allclose(got, [1.0, 4.0, 9.0, 0.0])


def _analysis(overlap, bounds):
    from diarize.pipeline import Analysis

    n = len(bounds)
    return Analysis(
        uri="u",
        name="u",
        duration=10.0,
        num_samples=160000,
        regions=np.array([[0, 160000]]),
        bounds=np.asarray(bounds, dtype=np.int64),
        embeddings=np.ones((n, 4), dtype=np.float32) / 2,
        timings={},
        overlap=overlap,
    )


def test_windows_heard_as_overlapped_are_left_out_of_the_clustering_unless_most_are():
    from diarize.pipeline import clean_windows

    # Frames centred on 160 t + 200; overlap probability 0.9 over frames 200-299 (centres
    # 2.0125-3.0025 s), 0.1 elsewhere. Windows of 1 s: [0, 1), [2, 3) (frames 199-298: mean
    # (0.1 + 99 x 0.9) / 100 = 0.892), [4, 5), [6, 7) s.
    probs = np.full(1000, 0.1, dtype=np.float16)
    probs[200:300] = 0.9
    bounds = [[s * 16000, (s + 1) * 16000] for s in (0, 2, 4, 6)]
    assert clean_windows(_analysis(probs, bounds), 0.5).tolist() == [True, False, True, True]
    # off (1), no probabilities, or a threshold that would leave fewer than half: all windows
    assert clean_windows(_analysis(probs, bounds), 1.0).all()
    assert clean_windows(_analysis(None, bounds), 0.5).all()
    assert clean_windows(_analysis(probs, bounds), 0.05).all()
    # three of four windows overlapped ([2.1, 3.1) s: mean 0.82; [2.2, 3.2) s: 0.748)
    one_clean = [[int(s * 16000), int((s + 1) * 16000)] for s in (2, 2.1, 2.2, 6)]
    assert clean_windows(_analysis(probs, one_clean), 0.5).all()
    assert clean_windows(_analysis(probs, one_clean), 0.85).tolist() == [False, True, True, True]
    with pytest.raises(ConfigError):
        update_config(PipelineConfig(), {"cluster": {"overlap_exclude": 1.2}})
