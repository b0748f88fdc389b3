import sys

import numpy as np
import pytest
import soundfile as sf

from diarize import audio
from diarize.errors import AudioError, MissingExtraError
from tests.conftest import torchaudio_functional


def _tone(rate, seconds, freq=440.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def test_stereo_8k_is_downmixed_and_resampled(tmp_path):
    left = _tone(8000, 1.0, 300.0)
    right = np.zeros_like(left)
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([left, right], axis=1), 8000)
    x = audio.load(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == 16000
    # Mono = mean of channels: amplitude halves.
    assert abs(np.abs(x[1000:-1000]).max() - 0.25) < 0.01


def test_mp3_48k(tmp_path):
    path = tmp_path / "a.mp3"
    sf.write(path, _tone(48000, 2.0), 48000, format="MP3")
    x = audio.load(path)
    assert abs(len(x) - 32000) < 0.05 * 32000  # mp3 adds encoder padding


def test_m4a_through_pyav(tmp_path):
    av = pytest.importorskip("av")  # the media extra
    path = tmp_path / "a.m4a"
    rate = 44100
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        x = _tone(rate, 1.0)
        frame = av.AudioFrame.from_ndarray(x[None, :], format="fltp", layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    y = audio.load(path)
    assert abs(len(y) - 16000) < 0.1 * 16000
    assert np.abs(y).max() > 0.3


def test_m4a_without_pyav_names_the_media_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    path = tmp_path / "a.m4a"
    path.write_bytes(b"\0" * 1000)
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[media\]"'):
        audio.load(path)
    # A file soundfile should read but cannot is simply not audio, extra or not.
    (tmp_path / "b.wav").write_text("not audio\n" * 50)
    with pytest.raises(AudioError, match="b.wav: not a readable audio file"):
        audio.load(tmp_path / "b.wav")


@pytest.mark.parametrize("rates", [(8000, 16000), (44100, 16000), (48000, 16000), (16000, 22050)])
def test_resampler_matches_torchaudio(rates):
    """The numpy resampler computes torchaudio's windowed-sinc resampling (its default
    filter): the same filter taps, so the outputs differ by float32 rounding only."""
    torch = pytest.importorskip("torch")
    functional = torchaudio_functional()
    orig, new = rates
    x = np.random.default_rng(0).standard_normal(orig).astype(np.float32) * 0.1
    ours = audio.resample(x, orig, new)
    theirs = functional.resample(torch.from_numpy(x), orig, new).numpy()
    assert ours.shape == theirs.shape == (-(-len(x) * new // orig),)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)  # float32 sums of up to 334 taps


def test_resampler_keeps_a_tone_and_its_length():
    # 1 kHz tone through 16 -> 8 -> 16 kHz: below both Nyquist frequencies, it survives.
    t = np.arange(16000) / 16000
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    y = audio.resample(audio.resample(x, 16000, 8000), 8000, 16000)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y[200:-200], x[200:-200], atol=2e-3)
    assert audio.resample(np.zeros(0, np.float32), 44100, 16000).shape == (0,)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        audio.load(tmp_path / "nope.wav")


def test_text_renamed_wav(tmp_path):
    path = tmp_path / "fake.wav"
    path.write_text("this is not audio\n" * 50)
    with pytest.raises(AudioError, match="fake.wav"):
        audio.load(path)


def test_zero_length_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        audio.load(path)


def test_wav_with_no_samples(tmp_path):
    path = tmp_path / "nosamples.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        audio.load(path)


def test_truncated_wav_is_read_with_a_warning(tmp_path, caplog):
    path = tmp_path / "cut.wav"
    sf.write(path, _tone(16000, 8.0), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: 44 + 2 * 16000 * 3])  # header says 8 s, 3 s of samples remain
    x = audio.load(path)
    assert len(x) == 3 * 16000
    assert "truncated or damaged" in caplog.text and "3.0 s it holds" in caplog.text
    caplog.clear()
    sf.write(path, _tone(16000, 8.0), 16000, subtype="PCM_16")
    assert len(audio.load(path)) == 8 * 16000 and "truncated" not in caplog.text


@pytest.mark.parametrize("subtype", ["PCM_24", "PCM_U8"])
def test_odd_length_data_chunk_is_not_called_damaged(tmp_path, caplog, subtype):
    # An odd number of 3- or 1-byte frames: an odd-length data chunk and its pad byte, as
    # RIFF requires. libsndfile notes it ("should be an even number of bytes"); it is whole.
    path = tmp_path / "odd.wav"
    sf.write(path, _tone(16000, 2.0)[:-1], 16000, subtype=subtype)
    assert "should be" in sf.info(str(path)).extra_info
    assert len(audio.load(path)) == 2 * 16000 - 1
    assert "truncated" not in caplog.text
    # The same file cut short is still called so.
    path.write_bytes(path.read_bytes()[: 44 + 16000])
    audio.load(path)
    assert "truncated or damaged" in caplog.text


def test_stream_equals_load(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, _tone(44100, 5.0, 523.0), 44100)
    whole = audio.load(path)
    parts = list(audio.stream(path, chunk=1.3))
    assert len(parts) > 3
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-5)


def test_seconds_samples_round_trip():
    assert audio.to_samples(1.5) == 24000
    assert audio.to_seconds(24000) == 1.5


def test_flac_and_ogg(tmp_path):
    for fmt in ("flac", "ogg"):
        path = tmp_path / f"a.{fmt}"
        sf.write(path, _tone(22050, 1.0), 22050)
        assert abs(len(audio.load(path)) - 16000) <= 1


def test_narrowband_detection_on_white_noise():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(64000)).astype(np.float32)
    regions = np.array([[0, 64000]])
    # Flat spectrum: the power ratio is the bandwidth ratio, (0.95 * 8000 - 5500) / (4000 - 100).
    assert audio.high_band_ratio(x, regions) == pytest.approx(2100 / 3900, rel=0.1)
    assert not audio.is_narrowband(x, regions)
    # The same noise through an 8 kHz channel (telephone band) and back to 16 kHz.
    y = audio.resample(audio.resample(x, 16000, 8000), 8000, 16000)
    assert audio.is_narrowband(y, regions)
    # Only the speech regions count: a narrowband stretch inside a wideband file.
    z = np.concatenate([x[:32000], y[32000:]])
    assert audio.is_narrowband(z, np.array([[32000, 64000]]))
    assert not audio.is_narrowband(z, np.array([[0, 32000]]))
    # No speech, no decision.
    assert not audio.is_narrowband(x, np.zeros((0, 2), dtype=np.int64))


def test_quiet_recordings_are_raised_to_the_target_level():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, 200_000).astype(np.float32)  # |x| uniform: 99.9th pct 0.999

    def at(db):
        return (x * np.float32(10 ** (db / 20))).astype(np.float32)

    assert audio.loud_level_db(at(-6)) == pytest.approx(-6.0, abs=0.05)
    # Within 0.5 dB of the -12 dBFS target: left as it is, not copied.
    near = at(-12.3)
    out, gain = audio.raise_quiet(near)
    assert gain == 0.0 and out is near
    # -40 dBFS: raised by 28 dB to the target (the peak, also -40, allows it).
    out, gain = audio.raise_quiet(at(-40))
    assert gain == pytest.approx(28.0, abs=0.05)
    assert audio.loud_level_db(out) == pytest.approx(-12.0, abs=0.05)
    # Louder than the target: left as it is.
    loud = at(-3)
    out, gain = audio.raise_quiet(loud)
    assert gain == 0.0 and out is loud
    # Just quieter than the tolerance allows: raised.
    out, gain = audio.raise_quiet(at(-12.6))
    assert gain == pytest.approx(0.6, abs=0.05)
    # -50 dBFS: the gain stops at +30 dB.
    out, gain = audio.raise_quiet(at(-50))
    assert gain == pytest.approx(30.0) and audio.loud_level_db(out) == pytest.approx(
        -20.0, abs=0.05
    )
    # One loud click limits the gain: its peak (-20 dBFS) may only reach -1 dBFS.
    clicked = at(-50)
    clicked[1000] = 0.1
    out, gain = audio.raise_quiet(clicked)
    assert gain == pytest.approx(19.0, abs=0.01) and abs(out).max() == pytest.approx(
        10 ** (-1 / 20)
    )
    # The input is not touched unless asked to be.
    quiet = at(-40)
    kept = quiet.copy()
    out, _ = audio.raise_quiet(quiet)
    np.testing.assert_array_equal(quiet, kept)
    out, _ = audio.raise_quiet(quiet, in_place=True)
    assert out is quiet and audio.loud_level_db(quiet) == pytest.approx(-12.0, abs=0.05)
    # int16 stays int16, scaled the same way, without clipping; also in place.
    pcm = audio.to_pcm16(at(-40))
    out, gain = audio.raise_quiet(pcm)
    assert out.dtype == np.int16 and gain == pytest.approx(28.0, abs=0.1)
    assert audio.loud_level_db(out) == pytest.approx(-12.0, abs=0.1)
    out, gain = audio.raise_quiet(pcm, in_place=True)
    assert out is pcm and audio.loud_level_db(pcm) == pytest.approx(-12.0, abs=0.1)
    # float64 comes back as float32.
    out, gain = audio.raise_quiet(at(-40).astype(np.float64))
    assert out.dtype == np.float32 and audio.loud_level_db(out) == pytest.approx(-12.0, abs=0.05)
    # Digital silence: nothing to scale.
    silence = np.zeros(16000, np.float32)
    assert audio.raise_quiet(silence) == (silence, 0.0)


def test_through_rate_keeps_the_telephone_band_and_joins_its_pieces():
    # Through 8 kHz and back: a 1 kHz tone comes out as it went in, a 6 kHz one is gone;
    # read in pieces of 0.5 s it is the same signal, sample for sample, as in one piece.
    t = np.arange(3 * audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    low = 0.5 * np.sin(2 * np.pi * 1000 * t)
    x = (low + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    out = audio.through_rate(x, 8000)
    assert out.dtype == np.float32 and len(out) == len(x)
    mid = slice(audio.SAMPLE_RATE // 2, -audio.SAMPLE_RATE // 2)
    np.testing.assert_allclose(out[mid], low[mid], atol=0.01)
    pcm = audio.to_pcm16(x)
    whole = audio.through_rate(pcm, 8000)
    assert whole.dtype == np.int16
    np.testing.assert_array_equal(audio.through_rate(pcm, 8000, chunk=0.5), whole)
    np.testing.assert_array_equal(audio.to_pcm16(audio.as_float32(whole)), whole)
    assert audio.through_rate(x, 16000) is x  # nothing to do at the rate itself


def test_native_rate(tmp_path):
    for rate in (8000, 16000, 44100):
        sf.write(tmp_path / f"{rate}.wav", np.zeros(rate), rate, subtype="PCM_16")
        assert audio.native_rate(tmp_path / f"{rate}.wav") == rate
    (tmp_path / "text.wav").write_text("not audio")
    assert audio.native_rate(tmp_path / "text.wav") is None


def test_write_wav_round_trip_and_replace(tmp_path):
    pcm = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    path = tmp_path / "x.wav"
    assert audio.write_wav(path, pcm, 8000) == path
    back, rate = sf.read(path, dtype="int16")
    assert rate == 8000 and sf.info(path).subtype == "PCM_16"
    np.testing.assert_array_equal(back, pcm)
    # A float signal within [-1, 1] replaces the file; half scale reads back as half scale.
    audio.write_wav(path, np.full(100, 0.5, dtype=np.float32), 16000)
    back, rate = sf.read(path, dtype="float32")
    assert rate == 16000 and len(back) == 100
    np.testing.assert_allclose(back, 0.5, atol=1 / 32768)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]  # no temporary left


def test_write_wav_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.wav"
    audio.write_wav(path, np.zeros(10, dtype=np.int16), 16000)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="mono"):
        audio.write_wav(path, np.zeros((10, 2), dtype=np.int16), 16000)

    def broken(file, *args, **kwargs):
        with open(file, "wb") as fh:
            fh.write(b"RIFF")  # a partial write, then the failure
        raise RuntimeError("disk full")

    monkeypatch.setattr(sf, "write", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        audio.write_wav(path, np.ones(10, dtype=np.int16), 16000)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]


def test_heard_through_only_where_the_round_trip_adds_images():
    """Band-limited noise at 8 kHz, brought to 16 kHz by an ideal (sharp) resampler, holds
    nothing at 4.2-5 kHz; passed through 8 kHz by this package's resampler it gains the
    images of its 3-4 kHz band there, so it is heard through 8 kHz. The same noise brought up
    by this package's resampler holds those images already: heard as it is."""
    rng = np.random.default_rng(0)
    narrow = audio.resample(rng.standard_normal(8000 * 4).astype(np.float32) * 0.1, 16000, 8000)
    spectrum = np.zeros(len(narrow) + 1, dtype=complex)
    spectrum[: len(narrow) // 2 + 1] = np.fft.rfft(narrow)
    sharp = (2 * np.fft.irfft(spectrum, 2 * len(narrow))).astype(np.float32)
    own = audio.resample(narrow, 8000, 16000)
    heard = audio.heard_through(sharp, 8000)
    assert heard is not sharp
    np.testing.assert_array_equal(heard, audio.through_rate(sharp, 8000))
    assert audio.heard_through(own, 8000) is own
