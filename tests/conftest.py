"""Shared fixtures: synthetic voices whose right answer is known, and a tiny random encoder.

The tiny encoder is an ONNX export (tests/data/tiny-encoder.onnx, written by
tests/make_tiny_encoder.py), so every test that only embeds runs without torch; tests of the
torch side (training, adaptation, export, .pt checkpoints) use ``tiny_torch_encoder``, the
same weights as a torch model, and skip where torch is not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarize.config import PipelineConfig, update_config
from diarize.encoder import OnnxEncoder

SR = 16000
DATA = Path(__file__).resolve().parent / "data"
#: the tiny encoder's ONNX export and the checkpoint it was exported from
TINY_ONNX = DATA / "tiny-encoder.onnx"
TINY_PT = DATA / "tiny-encoder.pt"


def torchaudio_functional():
    """``torchaudio.functional``, the reference of the numpy front end and resampler; skips
    the test where it is missing or cannot load its library next to this torch."""
    try:
        import torchaudio.functional as functional
    except (ImportError, OSError) as exc:
        pytest.skip(f"torchaudio is not usable here: {str(exc).splitlines()[0]}")
    return functional


def synth_voice(f0: float, formants: tuple[float, float], duration: float, seed: int = 0):
    """A vowel-like harmonic signal: glottal pulse train shaped by two formant bumps.

    Slow pitch vibrato and a 4 Hz syllable-rate amplitude modulation (never fully silent,
    so a VAD keeps it as one region) make it look like sustained speech.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration * SR))) / SR
    f = f0 * (1 + 0.04 * np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = np.zeros_like(t)
    for k in range(1, int(7000 / f0)):
        gain = np.exp(-((((k * f0) - formants[0]) / 250.0) ** 2)) + 0.6 * np.exp(
            -((((k * f0) - formants[1]) / 350.0) ** 2)
        )
        x += gain * np.sin(k * phase) / k**0.3
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t) ** 2
    x = x * env
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


#: The default speech detector (Silero) rightly says these synthetic vowels are not speech;
#: tests on them use the spectral detector instead.
SYNTH_VAD = {"method": "spectral", "pad": 0.1}
SYNTH_CONFIG = update_config(PipelineConfig(), {"vad": SYNTH_VAD})
SYNTH_TOML = '[vad]\nmethod = "spectral"\npad = 0.1\n'

VOICE_A = (110.0, (600.0, 1200.0))
VOICE_B = (230.0, (850.0, 2600.0))


def conversation(pattern=("A", "B", "A", "B"), turn=3.0, pause=0.5, noise=1e-3, seed=0):
    """Alternating synthetic speakers. Returns (waveform, reference turns as (start, end, who))."""
    rng = np.random.default_rng(seed)
    pieces, turns, t = [], [], 0.0
    for i, who in enumerate(pattern):
        f0, formants = VOICE_A if who == "A" else VOICE_B
        pieces.append(synth_voice(f0, formants, turn, seed=seed + i))
        turns.append((t, t + turn, who))
        t += turn
        pieces.append(np.zeros(int(pause * SR), dtype=np.float32))
        t += pause
    x = np.concatenate(pieces)
    x = x + noise * rng.standard_normal(len(x)).astype(np.float32)
    return x.astype(np.float32), turns


@pytest.fixture(scope="session")
def tiny_encoder():
    """A small randomly initialised encoder (ONNX): fast, deterministic, not trained."""
    return OnnxEncoder(TINY_ONNX)


@pytest.fixture(scope="session")
def tiny_torch_encoder():
    """The tiny encoder as a torch model (skips without torch)."""
    pytest.importorskip("torch")
    from diarize.nn import load_checkpoint

    return load_checkpoint(TINY_PT)


@pytest.fixture(scope="session")
def two_voices():
    return conversation()


@pytest.fixture()
def two_voice_wav(tmp_path, two_voices):
    path = tmp_path / "two.wav"
    sf.write(path, two_voices[0], SR)
    return path
