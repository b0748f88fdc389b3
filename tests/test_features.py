"""The numpy front end: frames, mel filters, normalisation and MFCCs, checked by hand and
against the torch front end that training uses (where torch is installed)."""

from __future__ import annotations

import numpy as np
import pytest

from diarize.config import FeatureConfig
from diarize.features import LogMel, Mfcc, mel_filterbank, sliding_cmn
from tests.conftest import torchaudio_functional

SR = 16000


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)


def test_frame_count_and_a_tone_lands_in_its_mel_band():
    fbank = LogMel(FeatureConfig())
    assert fbank.win_samples == 400 and fbank.hop_samples == 160 and fbank.n_fft == 512
    assert fbank.num_frames(399) == 0 and fbank.num_frames(400) == 1
    assert fbank.num_frames(16000) == 1 + (16000 - 400) // 160
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    feats = fbank.log_mel(tone[None])
    assert feats.shape == (1, 98, 64) and feats.dtype == np.float32
    # The band whose filter peaks nearest 1 kHz holds the most energy.
    freqs = np.linspace(0, SR // 2, fbank.mel.shape[0])
    centre = freqs[np.argmax(fbank.mel, axis=0)]
    assert np.argmax(feats[0].mean(axis=0)) == np.argmin(np.abs(centre - 1000))


def test_mel_filters_are_torchaudios():
    functional = torchaudio_functional()
    ours = mel_filterbank(257, 20.0, 7600.0, 64, SR)
    theirs = functional.melscale_fbanks(257, 20.0, 7600.0, 64, SR, norm=None, mel_scale="htk")
    # torchaudio computes in float32, here in float64: the filters agree to float32 rounding.
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


@pytest.mark.parametrize("cmn_window", [0.0, 3.0])
def test_log_mel_matches_the_torch_front_end(cmn_window):
    """Same frames, window, FFT size, mel matrix and log floor as diarize.nn.Fbank; the
    float32 sums are taken in another order, so the features agree to ~1e-5 (log domain)."""
    torch = pytest.importorskip("torch")
    from diarize.nn import Fbank

    config = FeatureConfig(cmn_window=cmn_window)
    x = np.stack([_noise(12.0, 0), _noise(12.0, 1)])
    ours = LogMel(config)
    num_frames = ours.num_frames(x.shape[1])
    mask = np.random.default_rng(2).random((2, num_frames)) > 0.3
    theirs = Fbank(config)(torch.from_numpy(x), torch.from_numpy(mask)).numpy()
    np.testing.assert_allclose(ours(x, mask), theirs, atol=5e-5)
    np.testing.assert_allclose(
        ours.log_mel(x), Fbank(config).log_mel(torch.from_numpy(x)), atol=5e-5
    )


def test_sliding_cmn_by_hand():
    feats = np.arange(10, dtype=np.float32).reshape(1, 10, 1)
    # A 3-frame window: each frame minus the mean of itself and its neighbours (2 at the edges).
    out = sliding_cmn(feats, 3)[0, :, 0]
    np.testing.assert_allclose(out, [-0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5])
    # A window of the whole input: per-input mean normalisation.
    np.testing.assert_allclose(sliding_cmn(feats, 40)[0, :, 0], np.arange(10) - 4.5)
    # With a mask, only the masked-in frames make the mean.
    mask = np.zeros((1, 10), bool)
    mask[0, :5] = True
    np.testing.assert_allclose(sliding_cmn(feats, 40, mask)[0, :, 0], np.arange(10) - 2.0)


def test_mfcc_are_the_dct_of_40_log_mel_bands():
    mfcc = Mfcc()
    x = _noise(1.0)[None]
    ceps = mfcc(x)
    assert ceps.shape == (1, 98, 20)
    direct = mfcc.fbank.log_mel(x).astype(np.float64) @ mfcc.dct.T
    np.testing.assert_allclose(ceps, direct, atol=1e-4)
    # Orthonormal rows: the DCT keeps lengths.
    np.testing.assert_allclose(mfcc.dct @ mfcc.dct.T, np.eye(20), atol=1e-12)


def test_mfcc_frames_of_regions_are_those_of_the_whole_recording():
    mfcc = Mfcc()
    x = _noise(4.0)
    whole = mfcc.frames(x)
    regions = np.array([[1000, 9000], [20000, 20100], [40000, 64000]])
    part = mfcc.frames(x, regions=regions)
    assert part.shape == whole.shape
    for start, end in regions:
        span = slice(start // 160, -(-end // 160))
        np.testing.assert_allclose(part[span], whole[span], atol=1e-5)
    assert not part[100:120].any()  # between regions: not computed
