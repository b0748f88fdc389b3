"""Adaptation fine-tunes a copy, deterministically, in bounded time."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SR, conversation

torch = pytest.importorskip("torch")

from diarize.adapt import adapt_encoder  # noqa: E402


def test_adapt_returns_a_changed_copy_and_is_seeded(tiny_torch_encoder):
    tiny_encoder = tiny_torch_encoder
    waveform, turns = conversation(pattern=("A", "B", "A"), turn=3.0)
    regions = np.array([[int(a * SR), int(b * SR)] for a, b, _ in turns], dtype=np.int64)
    before = {k: v.clone() for k, v in tiny_encoder.model.state_dict().items()}
    a = adapt_encoder(tiny_encoder, waveform, regions, steps=2, seed=0)
    b = adapt_encoder(tiny_encoder, waveform, regions, steps=2, seed=0)
    for key, value in tiny_encoder.model.state_dict().items():
        assert torch.equal(value, before[key])  # the caller's encoder is untouched
    changed = any(
        not torch.equal(p, q)
        for p, q in zip(a.model.parameters(), tiny_encoder.model.parameters(), strict=True)
    )
    assert changed and a.meta["adapt_steps"] == 2
    windows = waveform[: 3 * SR].reshape(2, -1)
    np.testing.assert_array_equal(a.embed(windows), b.embed(windows))
    assert np.isfinite(a.embed(windows)).all()


def test_adapt_without_usable_speech_is_a_plain_copy(tiny_torch_encoder):
    tiny_encoder = tiny_torch_encoder
    waveform = np.zeros(2 * SR, dtype=np.float32)
    out = adapt_encoder(tiny_encoder, waveform, np.zeros((0, 2), np.int64), steps=5)
    assert out is not tiny_encoder and out.meta["adapt_steps"] == 0
    for p, q in zip(out.model.parameters(), tiny_encoder.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_an_onnx_export_is_adapted_through_its_checkpoint(tiny_encoder, tiny_torch_encoder):
    # tests/data/tiny-encoder.onnx names tiny-encoder.pt beside it as its source.
    waveform, turns = conversation(pattern=("A", "B", "A"), turn=3.0)
    regions = np.array([[int(a * SR), int(b * SR)] for a, b, _ in turns], dtype=np.int64)
    from_onnx = adapt_encoder(tiny_encoder, waveform, regions, steps=2, seed=0)
    from_torch = adapt_encoder(tiny_torch_encoder, waveform, regions, steps=2, seed=0)
    windows = waveform[: 3 * SR].reshape(2, -1)
    np.testing.assert_allclose(from_onnx.embed(windows), from_torch.embed(windows), atol=1e-6)
