"""benchmarks.telephone_16k: the 16-kHz copies it makes of telephone audio."""

import numpy as np
import pytest
import soundfile as sf

from benchmarks import der
from benchmarks.telephone_16k import copy_at_16k, upsample_ffmpeg, upsample_scipy
from diarize.types import Diarization


@pytest.mark.parametrize("name", ["scipy", "ffmpeg"])
def test_upsamplers_double_the_rate_and_keep_a_tone(name):
    if name == "ffmpeg":
        pytest.importorskip("av")
    upsample = upsample_scipy if name == "scipy" else upsample_ffmpeg
    t = np.arange(2 * 8000) / 8000
    y = upsample(0.5 * np.sin(2 * np.pi * 1000 * t), 8000)
    assert abs(len(y) - 32000) <= 64  # FFmpeg's filter may hold back a few samples
    mid = y[4000:-4000]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    freqs = np.fft.rfftfreq(len(mid), 1 / 16000)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1000, abs=5)
    assert spectrum[freqs > 4500].max() < 1e-3 * spectrum.max()  # no image at 7 kHz


def test_copy_at_16k_writes_each_file_once(tmp_path):
    (tmp_path / "src").mkdir()
    wav = tmp_path / "src" / "a.wav"
    sf.write(wav, np.zeros(8000), 8000, subtype="PCM_16")
    item = der.Item("a", wav, Diarization("a", (), 1.0), [(0.0, 1.0)], 1.0)
    calls = []

    def upsample(x, rate):
        calls.append(rate)
        return np.repeat(x, 2)

    (copy,) = copy_at_16k([item], upsample, tmp_path / "out")
    assert copy.wav == tmp_path / "out" / "wav" / "a.wav" and copy.uem == item.uem
    assert sf.info(str(copy.wav)).samplerate == 16000 and sf.info(str(copy.wav)).frames == 16000
    copy_at_16k([item], upsample, tmp_path / "out")
    assert calls == [8000]  # the second call found the copy
