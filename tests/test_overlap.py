"""Overlapped speech: regions from frame probabilities, and who the second speaker is."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from diarize.config import OverlapConfig, PipelineConfig, update_config
from diarize.errors import ConfigError, ModelError
from diarize.overlap import (
    OverlapDetector,
    overlap_model_path,
    overlap_probability,
    overlap_regions,
    second_speakers,
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


def test_probabilities_are_zero_outside_speech_regions():
    detector = _shipped_detector()
    rng = np.random.default_rng(1)
    wave = (0.1 * rng.standard_normal(10 * SR)).astype(np.float32)
    probs = overlap_probability(wave, np.array([[6 * SR, 7 * SR]]), detector)
    assert probs.shape == (998,)
    # Computed from 5 s to 8 s (1 s of audio each side of the region), zero elsewhere.
    assert np.all(probs[:490] == 0) and np.all(probs[810:] == 0)
    assert np.all((probs >= 0) & (probs <= 1)) and probs[600:700].max() > 0


def test_pipeline_adds_the_other_voice_where_overlap_is_found(tiny_encoder, monkeypatch):
    # A 0-3 s, B 3.5-6.5 s, A 7-10 s, B 10.5-13.5 s. The detector (replaced here) reports
    # overlap from 1 to 2 s, inside A's first turn: the only other speaker, B, is added there
    # and nowhere else.
    from diarize.pipeline import Pipeline
    from tests.conftest import SYNTH_CONFIG, conversation

    x, _ = conversation()

    def fake_probability(waveform, regions, detector, sample_rate=16000):
        probs = np.zeros((len(waveform) - 400) // 160 + 1, dtype=np.float32)
        probs[100:200] = 0.95
        return probs

    monkeypatch.setattr("diarize.overlap.OverlapDetector.load", lambda path="": None)
    monkeypatch.setattr("diarize.overlap.overlap_probability", fake_probability)
    config = update_config(SYNTH_CONFIG, {"overlap": {"enabled": True, "smooth": 0.0}})
    with_overlap = Pipeline(config, encoder=tiny_encoder)(x, num_speakers=2)
    plain = Pipeline(SYNTH_CONFIG, encoder=tiny_encoder)(x, num_speakers=2)

    def active(d, t):
        return {turn.speaker for turn in d.turns if turn.start <= t < turn.end}

    assert all(len(active(plain, t)) <= 1 for t in np.arange(0, 13.5, 0.05))
    for t in np.arange(1.05, 1.95, 0.05):
        assert len(active(with_overlap, t)) == 2
    for t in [*np.arange(0.0, 0.95, 0.05), *np.arange(2.05, 13.5, 0.05)]:
        assert active(with_overlap, t) == active(plain, t)


def test_shipped_detector_files_are_the_ones_the_model_card_names():
    from diarize.encoder import MODELS_DIR, sha256sum

    card = (MODELS_DIR / "README.md").read_text(encoding="utf-8")
    for name in ("overlap-v2.onnx", "overlap-v2.json"):
        assert sha256sum(MODELS_DIR / name) in card, name


def test_command_line_flag_sets_the_config(tmp_path):
    from diarize.pipeline import RunOptions

    toml = tmp_path / "c.toml"
    toml.write_text("[overlap]\nenabled = true\n", encoding="utf-8")
    assert RunOptions(overlap=True).build_config().overlap.enabled
    assert not RunOptions().build_config().overlap.enabled
    assert RunOptions(config_path=toml).build_config().overlap.enabled
    assert not RunOptions(config_path=toml, overlap=False).build_config().overlap.enabled
