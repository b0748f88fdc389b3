"""diarize.filters: Butterworth design and streaming filtering without scipy.signal."""

import numpy as np
import pytest

from diarize.filters import StreamingFilter, butter_sos, causal_fir, sos_impulse

CASES = [
    (6, 6000.0, "lowpass", 16000),
    (6, 6000.0, "highpass", 16000),
    (4, 300.0, "highpass", 16000),
    (5, 3400.0, "lowpass", 8000),
    (1, 1000.0, "lowpass", 16000),
    (6, 100.0, "highpass", 16000),
]


def _response(sos: np.ndarray, freq: float, rate: float) -> complex:
    """The cascade's frequency response at ``freq`` Hz, evaluated by hand."""
    w = np.exp(-2j * np.pi * freq / rate)  # z^-1 on the unit circle
    out = 1.0 + 0j
    for b0, b1, b2, a0, a1, a2 in sos:
        out *= (b0 + b1 * w + b2 * w * w) / (a0 + a1 * w + a2 * w * w)
    return out


@pytest.mark.parametrize("order,cutoff,btype,rate", CASES)
def test_butterworth_by_its_definition(order, cutoff, btype, rate):
    # Unit gain in the pass band, -3 dB (1/sqrt 2) at the cut-off, and the Butterworth
    # magnitude |H|^2 = 1 / (1 + (tan(pi f / fs) / tan(pi fc / fs))^(+-2 order)) elsewhere.
    sos = butter_sos(order, cutoff, btype, rate)
    band = 0.0 if btype == "lowpass" else rate / 2
    assert abs(_response(sos, band, rate)) == pytest.approx(1.0, abs=1e-9)
    assert abs(_response(sos, cutoff, rate)) == pytest.approx(2**-0.5, abs=1e-9)
    sign = 1 if btype == "lowpass" else -1
    for f in (0.3 * cutoff, 0.9 * cutoff, min(1.2 * cutoff, 0.49 * rate), 0.45 * rate):
        ratio = np.tan(np.pi * f / rate) / np.tan(np.pi * cutoff / rate)
        expected = (1 + ratio ** (2 * order * sign)) ** -0.5
        assert abs(_response(sos, f, rate)) == pytest.approx(expected, rel=1e-7, abs=1e-12)
    # stable: every pole inside the unit circle
    for _, _, _, _, a1, a2 in sos:
        assert np.abs(np.roots([1.0, a1, a2] if a2 else [1.0, a1])).max() < 1.0


@pytest.mark.parametrize("order,cutoff,btype,rate", CASES)
def test_the_same_filter_as_scipy(order, cutoff, btype, rate):
    from scipy.signal import butter, sosfilt

    reference = butter(order, cutoff, btype, fs=rate, output="sos")
    impulse = np.zeros(3000)
    impulse[0] = 1.0
    np.testing.assert_allclose(
        sos_impulse(butter_sos(order, cutoff, btype, rate), 3000),
        sosfilt(reference, impulse),
        atol=1e-12,
    )
    # streamed in uneven pieces (one of a single sample, one empty) = one pass of sosfilt
    x = np.random.default_rng(1).standard_normal(40_000)
    stream = StreamingFilter(order, cutoff, btype, rate)
    cuts = [0, 1000, 1001, 1001, 25_000, len(x)]
    pieces = [stream(x[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    assert [len(p) for p in pieces] == [b - a for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    np.testing.assert_allclose(np.concatenate(pieces), sosfilt(reference, x), atol=1e-9)


def test_causal_fir_by_hand():
    # y[i] = x[i] + 2 x[i-1] - x[i-2], the two samples before x given as history
    taps = np.array([1.0, 2.0, -1.0])
    x = np.array([1.0, 0.0, 0.0, 3.0])
    y = causal_fir(x, taps, history=np.array([5.0, 7.0]))
    np.testing.assert_allclose(y, [1 + 14 - 5, 0 + 2 - 7, 0 + 0 - 1, 3 + 0 - 0], atol=1e-12)
    assert len(causal_fir(np.zeros(0), taps, np.zeros(2))) == 0


@pytest.mark.parametrize(
    "args,message",
    [
        ((6, 8000.0, "lowpass", 16000), "cut-off"),
        ((6, 0.0, "highpass", 16000), "cut-off"),
        ((0, 1000.0, "lowpass", 16000), "order"),
        ((6, 1000.0, "bandpass", 16000), "btype"),
    ],
)
def test_bad_design_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        butter_sos(*args)
