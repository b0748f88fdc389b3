"""Speech activity detection on signals whose answer can be worked out by hand."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from diarize.config import EmbedConfig, VADConfig
from diarize.embed import detect_regions
from diarize.errors import ConfigError
from diarize.vad import (
    FRAME_STEP,
    binarize,
    detect_speech,
    frame_levels,
    gate_regions,
    level_floor_mask,
    pad_regions,
    padding_floor_mask,
    speech_probability,
)

SR = 16000
HERE = Path(__file__).resolve().parent
HAS_WEBRTC = importlib.util.find_spec("webrtcvad") is not None
# The detectors that must find a synthetic vowel. Silero is trained on real speech and is
# right to call a synthetic vowel non-speech; it is tested on the shipped TTS example below.
SIGNAL_METHODS = ["energy", "spectral"]
ALL_METHODS = ["energy", "spectral", "silero"] + (["webrtc"] if HAS_WEBRTC else [])
# Region edges must fall within this many seconds of the truth: the spectral detector's
# long-term envelope reaches 60 ms either side of a frame.
TOL = 0.08
# Post-processing without padding, so region edges can be checked against the truth.
PLAIN = dict(threshold=0.5, hysteresis=0.15, min_speech=0.25, min_silence=0.25, pad=0.0)


def vowel(duration: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A voiced-like signal: harmonics of a wobbling f0 under two formant bumps, at -16 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration * SR))) / SR
    f = f0 * (1 + 0.03 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = np.zeros_like(t)
    for k in range(1, int(5000 / f0)):
        x += (
            np.exp(-((((k * f0) - 700) / 300) ** 2))
            + 0.5 * np.exp(-((((k * f0) - 1800) / 400) ** 2))
            + 0.05
        ) * np.sin(k * phase)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def with_silence(pieces, noise: float = 1e-4, seed: int = 0) -> np.ndarray:
    """Concatenate (kind, seconds) pieces, kind "speech" or "silence", over a faint hiss."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (kind, seconds) in enumerate(pieces):
        n = int(round(seconds * SR))
        out.append(vowel(seconds, seed=i) if kind == "speech" else np.zeros(n, np.float32))
    x = np.concatenate(out)
    return (x + noise * rng.standard_normal(len(x))).astype(np.float32)


def check_regions(regions: np.ndarray, num_samples: int) -> None:
    assert regions.dtype == np.int64 and regions.ndim == 2 and regions.shape[1] == 2
    assert np.all(regions[:, 0] < regions[:, 1])
    assert np.all(regions[:, 0] >= 0) and np.all(regions[:, 1] <= num_samples)
    assert np.all(regions[1:, 0] > regions[:-1, 1])  # sorted, disjoint, not even touching


@pytest.mark.parametrize("method", SIGNAL_METHODS)
def test_one_burst_of_voice_in_silence(method):
    # 1 s silence, 2 s voice, 1 s silence -> one region [1 s, 3 s), within TOL.
    x = with_silence([("silence", 1.0), ("speech", 2.0), ("silence", 1.0)])
    regions = detect_speech(x, VADConfig(method=method, **PLAIN), SR)
    check_regions(regions, len(x))
    assert regions.shape == (1, 2)
    assert abs(regions[0, 0] - 1.0 * SR) <= TOL * SR
    assert abs(regions[0, 1] - 3.0 * SR) <= TOL * SR


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("noise", [0.0, 1e-3])
def test_silence_gives_no_region(method, noise):
    x = with_silence([("silence", 3.0)], noise=noise)
    regions = detect_speech(x, VADConfig(method=method), SR)
    assert regions.shape == (0, 2) and regions.dtype == np.int64


@pytest.mark.parametrize("method", ALL_METHODS)
def test_empty_and_tiny_inputs(method):
    config = VADConfig(method=method)
    empty = detect_speech(np.zeros(0, np.float32), config, SR)
    assert empty.shape == (0, 2) and empty.dtype == np.int64
    assert detect_speech(np.zeros(100, np.float32), config, SR).shape == (0, 2)


@pytest.mark.parametrize("method", SIGNAL_METHODS)
def test_short_pause_is_bridged_long_pause_is_kept(method):
    x = with_silence(
        [
            ("silence", 0.5),
            ("speech", 1.0),
            ("silence", 0.15),
            ("speech", 1.0),
            ("silence", 1.0),
            ("speech", 1.0),
            ("silence", 0.5),
        ]
    )
    regions = detect_speech(x, VADConfig(method=method, **PLAIN), SR)
    check_regions(regions, len(x))
    # The 150 ms pause is bridged (min_silence 250 ms); the 1 s pause is not.
    assert regions.shape == (2, 2)
    assert abs(regions[0, 1] - 2.65 * SR) <= TOL * SR
    assert abs(regions[1, 0] - 3.65 * SR) <= TOL * SR


@pytest.mark.parametrize("method", SIGNAL_METHODS)
def test_short_burst_is_dropped(method):
    x = with_silence(
        [("silence", 1.0), ("speech", 0.1), ("silence", 1.0), ("speech", 1.0), ("silence", 1.0)]
    )
    regions = detect_speech(x, VADConfig(method=method, **{**PLAIN, "min_speech": 0.3}), SR)
    assert regions.shape == (1, 2)
    assert abs(regions[0, 0] - 2.1 * SR) <= TOL * SR


# ----------------------------------------------------------------- binarize, by hand


def _regions(probs, **overrides):
    """binarize() on 100 ms frames over 10 s: every region edge is a multiple of 1600 samples."""
    config = VADConfig(**{**PLAIN, **overrides})
    return binarize(np.asarray(probs, float), 0.1, 10 * SR, config, SR).tolist()


def test_binarize_plain_runs():
    probs = [0, 0, 0.9, 0.9, 0.9, 0, 0, 0, 0.8, 0.8, 0.8, 0.8]
    assert _regions(probs) == [[2 * 1600, 5 * 1600], [8 * 1600, 12 * 1600]]


def test_binarize_hysteresis():
    # Starts above 0.5, holds while above 0.5 - 0.15 = 0.35, ends below it.
    probs = [0.4, 0.6, 0.4, 0.4, 0.3, 0.45, 0.0]
    assert _regions(probs, min_speech=0.0) == [[1600, 4 * 1600]]
    assert _regions(probs, min_speech=0.0, hysteresis=0.0) == [[1600, 2 * 1600]]


def test_binarize_bridges_then_drops():
    # Runs of 0.2 s, a 0.2 s gap, 0.2 s: bridged into one 0.6 s region (min_silence 0.25),
    # which then survives min_speech 0.5; an isolated 0.2 s run does not.
    probs = [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0]
    assert _regions(probs, min_speech=0.5) == [[0, 6 * 1600]]
    assert _regions(probs, min_speech=0.5, min_silence=0.1) == []
    assert _regions(probs, min_speech=0.0, min_silence=0.0) == [
        [0, 2 * 1600],
        [4 * 1600, 6 * 1600],
        [10 * 1600, 12 * 1600],
    ]


def test_binarize_pad_is_clipped_and_merges():
    # Runs [0, 0.2), [0.6, 0.8), [1.0, 1.2) s; pad 0.15 s: [0, 0.35) (clipped at 0),
    # then [0.45, 0.95) and [0.85, 1.35) overlap and merge.
    probs = [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0]
    assert _regions(probs, min_speech=0.0, min_silence=0.0, pad=0.15) == [[0, 5600], [7200, 21600]]


def test_binarize_clips_to_the_signal():
    # The last frame reaches past the end of a 0.95 s signal.
    config = VADConfig(**{**PLAIN, "min_speech": 0.0, "pad": 0.5})
    regions = binarize(np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1.0]), 0.1, int(0.95 * SR), config)
    assert regions.tolist() == [[0, int(0.95 * SR)]]


def test_binarize_all_silent():
    out = binarize(np.zeros(50), 0.01, SR // 2, VADConfig(), SR)
    assert out.shape == (0, 2) and out.dtype == np.int64


# ----------------------------------------------------------------- long inputs, dtypes


@pytest.mark.parametrize("method", ALL_METHODS)
def test_chunkwise_equals_one_pass(method):
    pieces = [("silence", 0.7), ("speech", 1.3), ("silence", 0.4), ("speech", 2.2)] * 4
    x = with_silence(pieces, noise=1e-3)
    whole = VADConfig(method=method, chunk=600.0)
    chunked = dataclasses.replace(whole, chunk=1.7)  # cuts through frames' neighbourhoods
    p_whole = speech_probability(x, whole, SR)
    p_chunked = speech_probability(x, chunked, SR)
    assert p_whole.step == p_chunked.step == FRAME_STEP[method]
    assert len(p_whole.probs) == -(-len(x) // int(round(FRAME_STEP[method] * SR)))
    np.testing.assert_allclose(p_chunked.probs, p_whole.probs, atol=1e-4)
    assert np.array_equal(detect_speech(x, whole, SR), detect_speech(x, chunked, SR))


@pytest.mark.parametrize("method", ALL_METHODS)
def test_int16_input_and_caller_array_untouched(method):
    x = with_silence([("silence", 1.0), ("speech", 1.5), ("silence", 1.0)])
    pcm = np.round(x * 32767).astype(np.int16)
    before = x.copy()
    config = VADConfig(method=method)
    regions = detect_speech(x, config, SR)
    assert np.array_equal(x, before)
    assert np.array_equal(detect_speech(pcm, config, SR), regions)


def test_other_sample_rates():
    x = with_silence([("silence", 1.0), ("speech", 2.0), ("silence", 1.0)])
    x8k = x[::2].copy()  # crude, but the vowel lies below 4 kHz
    regions = detect_speech(x8k, VADConfig(method="spectral", **PLAIN), 8000)
    assert regions.shape == (1, 2)
    assert abs(regions[0, 0] - 8000) <= TOL * 8000 and abs(regions[0, 1] - 24000) <= TOL * 8000


def test_bad_input_and_config():
    with pytest.raises(ValueError, match="mono"):
        detect_speech(np.zeros((2, 100), np.float32), VADConfig(), SR)
    with pytest.raises(ConfigError, match="unknown VAD method"):
        detect_speech(np.zeros(SR, np.float32), VADConfig(method="nope"), SR)
    with pytest.raises(ConfigError, match="hysteresis"):
        detect_speech(np.zeros(SR, np.float32), VADConfig(threshold=0.2, hysteresis=0.3), SR)
    with pytest.raises(ConfigError, match="pad"):
        detect_speech(np.zeros(SR, np.float32), VADConfig(pad=-1.0), SR)


# ----------------------------------------------------------------- silero


def test_silero_finds_the_speech_of_the_example_meeting():
    from diarize.audio import load
    from diarize.rttm import read_rttm

    x = load(HERE.parent / "examples" / "meeting.wav", SR)
    turns = read_rttm(HERE.parent / "examples" / "meeting.rttm")["meeting"].turns
    truth = np.zeros(len(x), bool)
    for t in turns:
        truth[int(t.start * SR) : int(t.end * SR)] = True
    found = np.zeros(len(x), bool)
    for start, end in detect_speech(x, VADConfig(method="silero"), SR):
        found[start:end] = True
    miss = np.sum(truth & ~found) / truth.sum()
    false_alarm = np.sum(~truth & found) / truth.sum()
    assert miss < 0.05 and false_alarm < 0.15, (miss, false_alarm)


def _silero_test_signal():
    rng = np.random.default_rng(0)
    x = with_silence([("silence", 0.5), ("speech", 1.0), ("silence", 0.3)], noise=1e-2)
    x[: SR // 2] += 0.05 * rng.standard_normal(SR // 2).astype(np.float32)
    return x


def test_silero_probabilities_do_not_depend_on_the_chunk():
    # The LSTM state is carried from one call of the network to the next.
    from diarize.audio import load

    x = load(HERE.parent / "examples" / "meeting.wav", SR)[: 12 * SR]
    whole = speech_probability(x, VADConfig(method="silero"), SR).probs
    pieces = speech_probability(x, VADConfig(method="silero", chunk=0.5), SR).probs
    assert len(whole) == -(-len(x) // 512)
    np.testing.assert_allclose(pieces, whole, atol=1e-6)


def test_silero_input_gain_is_the_same_signal_made_louder():
    # +6.02 dB is twice the amplitude: the detector must hear exactly the doubled signal,
    # and nothing else may change (frames, length).
    from diarize.audio import load

    x = load(HERE.parent / "examples" / "meeting.wav", SR)[: 8 * SR]
    gained = speech_probability(x, VADConfig(method="silero", input_gain_db=20 * np.log10(2)), SR)
    doubled = speech_probability(2 * x, VADConfig(method="silero", input_gain_db=0.0), SR)
    plain = speech_probability(x, VADConfig(method="silero", input_gain_db=0.0), SR)
    np.testing.assert_allclose(gained.probs, doubled.probs, atol=1e-5)
    assert np.abs(gained.probs - plain.probs).max() > 1e-3  # the gain is not a no-op


def test_chunked_lowpass_is_one_filter_over_the_whole_signal():
    # Filtered piece by piece with its state carried, the low-pass must equal one pass of
    # the same filter over the whole signal, and take out a tone above its cutoff.
    from scipy.signal import sosfilt

    from diarize.vad import _ChunkedFilter

    t = np.arange(3 * SR) / SR
    x = (np.sin(2 * np.pi * 300 * t) + np.sin(2 * np.pi * 7000 * t)).astype(np.float32)
    lowpass = _ChunkedFilter(5000, SR, keep=64)
    pieces = [lowpass.through(x, end) for end in (1000, 1000 + 7 * 512, len(x))]
    whole = sosfilt(lowpass.sos, x.astype(np.float64))
    np.testing.assert_array_equal(pieces[0][:64], 0)  # before the signal
    np.testing.assert_allclose(np.concatenate([p[64:] for p in pieces]), whole, atol=1e-6)
    np.testing.assert_allclose(pieces[1][:64], whole[1000 - 64 : 1000], atol=1e-6)
    steady = whole[SR:]
    # the 300 Hz tone, whatever phase the filter gave it (sine and cosine parts)
    basis = np.stack([np.sin(2 * np.pi * 300 * t[SR:]), np.cos(2 * np.pi * 300 * t[SR:])], 1)
    low = basis @ np.linalg.lstsq(basis, steady, rcond=None)[0]
    assert np.sqrt(np.mean(low**2)) > 0.69  # 300 Hz passes (rms of a unit sine: 0.707)
    assert np.sqrt(np.mean((steady - low) ** 2)) < 0.01  # the 7 kHz tone is gone


def test_silero_lowpass_keeps_the_larger_probability_and_ignores_the_chunk():
    from diarize.audio import load
    from diarize.vad import _silero_probs

    x = load(HERE.parent / "examples" / "meeting.wav", SR)[: 12 * SR]
    config = VADConfig(method="silero", lowpass_hz=4000.0, lowpass_gate_db=0.0)
    both = speech_probability(x, config, SR).probs
    plain = _silero_probs(x, config.chunk, config.input_gain_db)
    low = _silero_probs(x, config.chunk, config.input_gain_db, 4000.0)
    np.testing.assert_allclose(both, np.maximum(plain, low), atol=1e-6)
    assert np.abs(low - plain).max() > 1e-3  # the low-passed copy is another signal
    pieces = speech_probability(x, dataclasses.replace(config, chunk=0.5), SR).probs
    np.testing.assert_allclose(pieces, both, atol=1e-5)
    with pytest.raises(ConfigError, match="lowpass_hz must be below 8000"):
        speech_probability(x, VADConfig(method="silero", lowpass_hz=8000.0), SR)
    # input at another rate is resampled once, and both listens hear the same 16 kHz signal
    from diarize.audio import resample

    at_8k = resample(x, SR, 8000)
    np.testing.assert_allclose(
        speech_probability(at_8k, config, 8000).probs,
        speech_probability(resample(at_8k, 8000, SR), config, SR).probs,
        atol=1e-5,
    )


def test_band_levels_by_hand():
    # A 7 kHz sine of amplitude 0.5 (mean square 0.125: -9.0 dB) in the second second only,
    # over a 300 Hz one throughout: above a 6 kHz cut-off the first second holds (almost)
    # nothing, the second the 7 kHz tone at its level; chunking changes nothing.
    from diarize.vad import _band_levels

    t = np.arange(2 * SR) / SR
    x = 0.5 * np.sin(2 * np.pi * 300 * t) + 0.5 * np.sin(2 * np.pi * 7000 * t) * (t >= 1)
    levels = _band_levels(x.astype(np.float32), 6000.0, chunk=300.0)
    assert len(levels) == -(-len(x) // 512)
    first, second = levels[2:29], levels[34:-1]  # whole frames away from the switch
    assert first.max() < -60.0  # the 300 Hz tone is 60 dB down through a 6th-order filter
    np.testing.assert_allclose(second, 10 * np.log10(0.125), atol=0.2)
    pieces = _band_levels(x.astype(np.float32), 6000.0, chunk=0.1)
    np.testing.assert_allclose(pieces, levels, atol=1e-3)


def test_lowpass_gate_keeps_the_low_passed_listen_only_over_a_quiet_band():
    # Frames whose level above the cut-off is within the gate of the recording's 10 %
    # quantile there take the larger of the two listens; the others the full-band listen.
    from diarize.audio import load
    from diarize.vad import LOWPASS_GATE_QUANTILE, _band_levels, _silero_probs

    x = load(HERE.parent / "examples" / "meeting.wav", SR)[: 12 * SR]
    rng = np.random.default_rng(0)
    hiss = rng.standard_normal(len(x)).astype(np.float32) * 0.02 * (np.arange(len(x)) > 6 * SR)
    x = x + hiss  # a louder band above the cut-off in the second half
    config = VADConfig(method="silero", lowpass_hz=5000.0, lowpass_gate_db=6.0)
    gated = speech_probability(x, config, SR).probs
    plain = _silero_probs(x, config.chunk, config.input_gain_db)
    low = _silero_probs(x, config.chunk, config.input_gain_db, 5000.0)
    level = _band_levels(x, 5000.0, config.chunk)
    quiet = level <= np.quantile(level, LOWPASS_GATE_QUANTILE) + 6.0
    half = 6 * SR // 512
    assert 0.2 < quiet.mean() < 0.8 and quiet[:half].mean() > quiet[half:].mean()
    np.testing.assert_allclose(gated[quiet], np.maximum(plain, low)[quiet], atol=1e-6)
    np.testing.assert_allclose(gated[~quiet], plain[~quiet], atol=1e-6)
    assert np.abs(low - plain)[~quiet].max() > 1e-3  # the gate did change something
    wide_open = dataclasses.replace(config, lowpass_gate_db=200.0)
    np.testing.assert_allclose(
        speech_probability(x, wide_open, SR).probs,
        speech_probability(x, dataclasses.replace(config, lowpass_gate_db=0.0), SR).probs,
        atol=1e-6,
    )


@pytest.mark.parametrize("method", SIGNAL_METHODS)
def test_input_gain_is_for_silero_only(method):
    # The energy and spectral detectors track the recording's own level; the gain is
    # documented as Silero's and must leave them as they are.
    x = with_silence([("silence", 0.5), ("speech", 1.0), ("silence", 0.5)], noise=1e-3)
    plain = speech_probability(x, VADConfig(method=method), SR).probs
    gained = speech_probability(x, VADConfig(method=method, input_gain_db=6.0), SR).probs
    np.testing.assert_array_equal(plain, gained)


def test_silero_equals_the_package_loop():
    """The shipped sequence model gives what the silero-vad package's own 32-ms loop gives
    (its TorchScript model; the package needs torch, so this runs where both are installed)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    silero_vad = pytest.importorskip("silero_vad")  # sets torch's thread count on import

    torch.set_num_threads(threads)
    x = _silero_test_signal()
    model = silero_vad.load_silero_vad()
    torch.set_num_threads(1)  # the package's 32-ms loop is slow on several threads
    try:
        with torch.inference_mode():
            reference = model.audio_forward(torch.from_numpy(x), SR)[0].numpy()
    finally:
        torch.set_num_threads(threads)
    # the package hears the signal as it is: no input gain, one listen
    config = VADConfig(method="silero", chunk=0.5, input_gain_db=0.0, lowpass_hz=0.0)
    ours = speech_probability(x, config, SR).probs
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_silero_model_file_is_the_one_the_model_card_names():
    from diarize.encoder import MODELS_DIR, sha256sum
    from diarize.vad import SILERO_MODEL

    card = (MODELS_DIR / "README.md").read_text(encoding="utf-8")
    assert sha256sum(MODELS_DIR / SILERO_MODEL) in card
    assert (MODELS_DIR / "LICENSE-silero-vad").read_text().startswith("MIT License")


def test_silero_missing_model_is_a_clear_error(monkeypatch, tmp_path):
    import diarize.encoder
    import diarize.vad as vad
    from diarize.errors import ModelError

    monkeypatch.setattr(vad, "_silero_cache", {})
    monkeypatch.setattr(diarize.encoder, "MODELS_DIR", tmp_path)
    with pytest.raises(ModelError, match="Silero VAD model is missing"):
        detect_speech(np.zeros(SR, np.float32), VADConfig(method="silero"), SR)


def test_pad_regions_widens_clips_and_merges():
    # 1 kHz for easy arithmetic: pad 0.1 s = 100 samples.
    regions = np.array([[50, 200], [350, 400], [700, 990]])
    padded = pad_regions(regions, 0.1, 1000, sample_rate=1000)
    # [0 (clipped), 300) and [250, 500) touch -> [0, 500); [600, 1000 (clipped)).
    assert padded.tolist() == [[0, 500], [600, 1000]]
    assert pad_regions(regions, 0.0, 1000, sample_rate=1000).tolist() == regions.tolist()
    assert pad_regions(np.zeros((0, 2), np.int64), 0.2, 1000).shape == (0, 2)
    with pytest.raises(ValueError, match="pad"):
        pad_regions(regions, -0.1, 1000)


def test_detect_regions_pads_output_and_window_regions_from_one_detection():
    # 1 s silence, 2 s voice, 1 s silence: one run near [1 s, 3 s).
    x = with_silence([("silence", 1.0), ("speech", 2.0), ("silence", 1.0)])
    # (without the level floor gates, which would take the padding off again: tests below)
    vad = VADConfig(
        method="spectral", **{**PLAIN, "pad": 0.3, "floor_db": 0.0, "pad_floor_db": 0.0}
    )
    output, windows = detect_regions(x, vad, EmbedConfig(pad=0.0), SR)
    plain = detect_speech(x, dataclasses.replace(vad, pad=0.0), SR)
    assert windows.tolist() == plain.tolist()
    assert output.tolist() == (plain + np.array([-0.3 * SR, 0.3 * SR])).astype(int).tolist()
    same_output, same_windows = detect_regions(x, vad, EmbedConfig(pad=None), SR)  # the vad's
    assert same_output.tolist() == same_windows.tolist() == output.tolist()
    with pytest.raises(ConfigError, match=r"\[embed\] pad"):
        detect_regions(x, vad, EmbedConfig(pad=-1.0), SR)
    with pytest.raises(ConfigError, match=r"\[embed\] pad"):
        detect_regions(x, vad, EmbedConfig(pad="x"), SR)


def test_frame_levels_are_decibels_of_each_frame_for_float_and_int16():
    # 3 frames of 4 samples: full-scale square wave (0 dB), a tenth of it (-20 dB), and a
    # last, short frame of one sample at half scale (mean square over the padded frame:
    # 0.25 / 4 -> -12.04 dB).
    x = np.array([1, -1, 1, -1, 0.1, -0.1, 0.1, -0.1, 0.5], dtype=np.float32)
    levels = frame_levels(x, hop=4, chunk=4)
    assert levels == pytest.approx([0.0, -20.0, 10 * np.log10(0.0625)], abs=1e-3)
    pcm = np.round(x * 16384).astype(np.int16)  # half scale: 6.02 dB down
    assert frame_levels(pcm, hop=4) == pytest.approx(levels - 6.0206, abs=0.01)


def test_level_floor_mask_keeps_what_stands_above_the_quietest_stretch():
    # 2 s of hiss at -60 dBFS, 2 s of a tone 40 dB louder, 2 s of hiss: only the tone (less
    # the 0.15 s the 0.3-s averaging smears across each edge) is above the floor + 6 dB.
    rng = np.random.default_rng(0)
    hiss = 1e-3 * rng.standard_normal(6 * SR)
    tone = np.zeros(6 * SR)
    tone[2 * SR : 4 * SR] = 0.1 * np.sqrt(2) * np.sin(2 * np.pi * 440 * np.arange(2 * SR) / SR)
    keep, hop = level_floor_mask((hiss + tone).astype(np.float32), 6.0, SR)
    assert hop == 160 and len(keep) == 600
    t = (np.arange(600) + 0.5) * 0.01
    assert keep[(t > 2.2) & (t < 3.8)].all()
    assert not keep[(t < 1.8) | (t > 4.2)].any()
    # Nothing stands 50 dB above the floor.
    assert not level_floor_mask((hiss + tone).astype(np.float32), 50.0, SR)[0].any()


def test_level_floor_mask_measures_the_floor_at_its_quantile():
    # 1 s of hiss at -60 dBFS, 1 s of a louder hum at about -40 dBFS, 8 s of a tone at about
    # -17 dBFS. The 5 % quantile lies in the hiss, so only the hiss is the floor; the 15 %
    # quantile lies in the hum, so the hum is cut as well. (Edges: 0.15 s of averaging.)
    rng = np.random.default_rng(0)
    t = np.arange(10 * SR) / SR
    x = 1e-3 * rng.standard_normal(10 * SR)
    x[SR : 2 * SR] += 0.014 * np.sin(2 * np.pi * 100 * t[SR : 2 * SR])
    x[2 * SR :] += 0.2 * np.sin(2 * np.pi * 440 * t[2 * SR :])
    centre = (np.arange(1000) + 0.5) * 0.01
    hiss, hum, tone = centre < 0.85, (centre > 1.15) & (centre < 1.85), centre > 2.15
    keep, _ = level_floor_mask(x.astype(np.float32), 3.0, SR, quantile=0.05)
    assert not keep[hiss].any() and keep[hum].all() and keep[tone].all()
    keep, _ = level_floor_mask(x.astype(np.float32), 3.0, SR, quantile=0.15)
    assert not keep[hiss].any() and not keep[hum].any() and keep[tone].all()


def test_level_floor_mask_holds_each_block_against_its_own_floor():
    # 8 s at one level, then 8 s 30 dB louder, each half steady hiss with tone bursts (1 s
    # on, 1 s off). One floor for the recording is the quiet half's hiss, so the loud half's
    # hiss stands far above it and is kept; with blocks of 4 s the last block (12-16 s,
    # compared with 10-16 s) has the loud hiss as its floor and cuts it.
    rng = np.random.default_rng(0)
    t = np.arange(16 * SR) / SR
    bursts = ((t % 2) < 1) * 0.1 * np.sin(2 * np.pi * 440 * t)
    x = (3e-4 * rng.standard_normal(len(t)) + bursts) * np.where(t < 8, 1.0, 31.6)
    centre = (np.arange(1600) + 0.5) * 0.01
    loud_hiss = (centre > 12.2) & (centre % 2 > 1.2) & (centre % 2 < 1.8)
    quiet_hiss = (centre < 7.8) & (centre % 2 > 1.2) & (centre % 2 < 1.8)
    tone = (centre % 2 > 0.2) & (centre % 2 < 0.8)
    whole, _ = level_floor_mask(x.astype(np.float32), 1.5, SR, block=0.0)
    assert whole[loud_hiss].all() and not whole[quiet_hiss].any() and whole[tone].all()
    blocks, _ = level_floor_mask(x.astype(np.float32), 1.5, SR, block=4.0)
    assert not blocks[loud_hiss].any() and not blocks[quiet_hiss].any() and blocks[tone].all()


def test_padding_floor_mask_keeps_speech_and_what_rises_above_the_floor():
    # Hiss at -60 dBFS throughout; a tone at -20 dBFS over [1, 2) s (the detector's speech),
    # then a soft tone 10 dB above the hiss over [2.0, 2.4) s, then hiss alone until 3.5 s.
    # Margin 3 dB: the speech and the soft tail are kept (less the 25 ms of the 50-ms
    # averaging at its far edge), the hiss on either side is not. Margin 20 dB: only the
    # detector's own speech is kept, whatever its level.
    rng = np.random.default_rng(0)
    t = np.arange(int(3.5 * SR)) / SR
    x = 1e-3 * rng.standard_normal(len(t))
    x += np.where((t >= 1) & (t < 2), 0.1, 0.0) * np.sqrt(2) * np.sin(2 * np.pi * 440 * t)
    x += np.where((t >= 2) & (t < 2.4), 3.16e-3, 0.0) * np.sqrt(2) * np.sin(2 * np.pi * 300 * t)
    speech = np.array([[SR, 2 * SR]])
    centre = (np.arange(350) + 0.5) * 0.01
    keep, hop = padding_floor_mask(x.astype(np.float32), speech, 3.0, SR)
    assert hop == 160 and len(keep) == 350
    assert keep[(centre > 1.0) & (centre < 2.37)].all()
    assert not keep[(centre < 0.97) | (centre > 2.43)].any()
    strict, _ = padding_floor_mask(x.astype(np.float32), speech, 20.0, SR)
    assert strict[(centre > 1.0) & (centre < 2.0)].all()
    assert not strict[(centre < 0.99) | (centre > 2.01)].any()


def test_detect_regions_gates_the_padding_only(monkeypatch):
    # Voice over [1, 3) s between stretches of faint hiss: padding of 0.3 s adds nothing but
    # hiss, so with pad_floor_db the output is the detection as it is (to the 10-ms frame),
    # while the general floor gate alone (floor_db, on 0.3-s averages that smear the voice's
    # level 0.15 s into the hiss) leaves more than 50 ms of it on both sides.
    x = with_silence([("silence", 1.0), ("speech", 2.0), ("silence", 1.0)])
    vad = VADConfig(
        method="spectral", **{**PLAIN, "pad": 0.3, "floor_db": 1.5, "pad_floor_db": 0.0}
    )
    plain = detect_speech(x, dataclasses.replace(vad, pad=0.0), SR)
    loose, _ = detect_regions(x, vad, EmbedConfig(pad=0.0), SR)
    gated, windows = detect_regions(
        x, dataclasses.replace(vad, pad_floor_db=3.0), EmbedConfig(pad=0.0), SR
    )
    assert windows.tolist() == plain.tolist()
    assert gated.shape == plain.shape == (1, 2)
    assert np.abs(gated - plain).max() <= 160
    assert (plain[0, 0] - loose[0, 0]) > 0.05 * SR and (loose[0, 1] - plain[0, 1]) > 0.05 * SR
    # Without padding there is nothing to gate: the regions are the detection's, even a
    # piece shorter than the gates' shortest (0.1 s) that a gate would drop.
    short = np.array([[SR, SR + 800], [2 * SR, 3 * SR]])
    monkeypatch.setattr("diarize.embed.speech_regions", lambda *a, **k: short.copy())
    unpadded = dataclasses.replace(vad, pad=0.0, floor_db=0.0, pad_floor_db=3.0)
    assert detect_regions(x, unpadded, EmbedConfig(pad=0.0), SR)[0].tolist() == short.tolist()
    with pytest.raises(ConfigError, match=r"\[vad\] pad_floor_db"):
        detect_regions(x, dataclasses.replace(vad, pad_floor_db=-1.0), EmbedConfig(), SR)


def test_floor_quantile_must_be_a_fraction():
    from diarize.config import PipelineConfig, update_config

    assert update_config(PipelineConfig(), {"vad": {"floor_quantile": 0.1}}).vad.floor_quantile
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match="floor_quantile"):
            update_config(PipelineConfig(), {"vad": {"floor_quantile": bad}})


def test_level_floor_mask_gates_nothing_without_a_steady_background():
    # A tone whose level falls steadily by 30 dB, then 0.05 s of hiss: the quietest 0.5 %
    # is the hiss, but the 5 % quantile lies on the tone, far above it: no background
    # stretch to measure a floor on, so every frame is kept.
    t = np.arange(6 * SR) / SR
    tone = 0.3 * 10 ** (-1.5 * t / 6) * np.sin(2 * np.pi * 300 * t)
    x = np.concatenate([tone, 1e-4 * np.random.default_rng(0).standard_normal(800)])
    keep, _ = level_floor_mask(x.astype(np.float32), 1.5, SR)
    assert keep.all()


def test_gate_regions_keeps_the_parts_inside_kept_frames():
    # Frames of 100 samples; kept frames 5-24 and 28-29 -> samples [500, 2500), [2800, 3000).
    keep = np.zeros(40, dtype=bool)
    keep[5:25] = keep[28:30] = True
    regions = np.array([[0, 1000], [2000, 3200], [3500, 3900]])
    gated = gate_regions(regions, keep, 100, 1, 4000)
    assert gated.tolist() == [[500, 1000], [2000, 2500], [2800, 3000]]
    # Pieces shorter than 300 samples are dropped.
    assert gate_regions(regions, keep, 100, 300, 4000).tolist() == [[500, 1000], [2000, 2500]]
    assert gate_regions(np.zeros((0, 2)), keep, 100, 1, 4000).shape == (0, 2)


def test_detect_regions_floor_gate_cuts_the_padding_that_reaches_into_silence():
    # 1 s silence, 2 s voice, 1 s silence with 0.3 s padding: the gate takes the padding
    # back off (the silence sits at the floor) and leaves the windows' regions alone.
    x = with_silence([("silence", 1.0), ("speech", 2.0), ("silence", 1.0)])
    vad = VADConfig(
        method="spectral", **{**PLAIN, "pad": 0.3, "floor_db": 0.0, "pad_floor_db": 0.0}
    )
    padded, _ = detect_regions(x, vad, EmbedConfig(pad=0.0), SR)
    gated, windows = detect_regions(
        x, dataclasses.replace(vad, floor_db=10.0), EmbedConfig(pad=0.0), SR
    )
    plain = detect_speech(x, dataclasses.replace(vad, pad=0.0), SR)
    assert windows.tolist() == plain.tolist()
    assert len(padded) == len(gated) == 1
    assert padded[0, 0] <= 0.75 * SR and padded[0, 1] >= 3.25 * SR
    assert abs(gated[0, 0] - SR) <= 0.2 * SR and abs(gated[0, 1] - 3 * SR) <= 0.2 * SR
    with pytest.raises(ConfigError, match=r"\[vad\] floor_db"):
        detect_regions(x, dataclasses.replace(vad, floor_db=-1.0), EmbedConfig(), SR)
