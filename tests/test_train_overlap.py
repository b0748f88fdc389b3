"""Training of the overlap detector: the mixtures' targets, and the export runs like torch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # training needs the train extra
pytest.importorskip("onnx")

from diarize.overlap import OVERLAP_FEATURES, OverlapDetector  # noqa: E402
from diarize.train import data as data_mod  # noqa: E402
from diarize.train.overlap import (  # noqa: E402
    MixtureSampler,
    OverlapNet,
    OverlapTrainConfig,
    export,
    make_batch,
)

SR = 16000


def _bursts(seed: int, seconds: float = 6.0) -> data_mod.Recording:
    """Tone bursts of 0.5 s on, 0.5 s off: its speech frames are known by construction."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    on = (t % 1.0) < 0.5
    x = np.where(on, 0.3 * np.sin(2 * np.pi * rng.uniform(150, 400) * t), 0.0)
    x = (x + 1e-5 * rng.standard_normal(len(t))).astype(np.float32)
    return data_mod.make_recordings([(f"r{seed}", x)])[0]


def test_targets_mark_frames_where_two_placed_recordings_are_active():
    config = OverlapTrainConfig(batch_size=16, talkers=(0.0, 1.0, 0.0), chunk_seconds=3.0)
    sampler = MixtureSampler([_bursts(i) for i in range(4)], config)
    sources, active, talkers = sampler.sample()
    assert (talkers == 2).all() and sources.shape == (16, 3, 48000)
    frames = active.shape[2]
    for row in range(16):
        assert not sources[row, 2].any() and not active[row, 2].any()
        for k in range(2):
            # A frame marked active holds the source's signal; silent frames are not active.
            energy = np.array(
                [np.mean(sources[row, k, 160 * f : 160 * f + 400] ** 2) for f in range(frames)]
            )
            assert np.all(energy[active[row, k]] > 1e-4)
            assert not np.any(active[row, k][energy < 1e-8])


def _span_seconds(row: np.ndarray) -> float:
    """Seconds from the first to the last non-zero sample of a source row."""
    nz = np.flatnonzero(row)
    return (nz[-1] - nz[0] + 1) / SR if len(nz) else 0.0


def test_short_bursts_make_the_other_talkers_pieces_short_and_leave_the_first_alone():
    base = OverlapTrainConfig(batch_size=32, talkers=(0.0, 0.0, 1.0), chunk_seconds=4.0)
    short = dataclasses.replace(base, short_p=1.0, short_seconds=(0.3, 0.6))
    sources, _, _ = MixtureSampler([_bursts(i) for i in range(4)], short).sample()
    # the first talker keeps 60-100 % of the chunk; the others last 0.3-0.6 s
    assert all(_span_seconds(r) >= 0.6 * 4.0 - 0.5 for r in sources[:, 0])
    others = [_span_seconds(r) for r in sources[:, 1:].reshape(-1, sources.shape[2])]
    assert max(others) <= 0.6 and min(others) > 0.0
    # without bursts the other talkers hold at least a quarter of the chunk, minus the
    # 0.5-s silences of the tone bursts at the piece's ends
    sources, _, _ = MixtureSampler([_bursts(i) for i in range(4)], base).sample()
    others = [_span_seconds(r) for r in sources[:, 1:].reshape(-1, sources.shape[2])]
    assert max(others) > 1.2


def _batch_and_activity(**options):
    """A noise-free training batch (features, targets) and the activity of its talkers
    (batch, 3, frames), drawn by the same sampler state."""
    from diarize.nn import Fbank
    from diarize.train.augment import Augmenter

    config = OverlapTrainConfig(batch_size=8, chunk_seconds=2.0, **options)
    config = dataclasses.replace(config, augment=dataclasses.replace(config.augment, p_noise=0.0))
    sampler = MixtureSampler([_bursts(i) for i in range(4)], config)
    state = sampler.rng.bit_generator.state
    _, active, _ = sampler.sample()
    sampler.rng.bit_generator.state = state
    feats, target = make_batch(
        sampler,
        Augmenter(config.augment, [], [], 0),
        Fbank(OVERLAP_FEATURES),
        config,
        torch.Generator().manual_seed(0),
    )
    return feats, target, active


def test_batch_targets_are_two_talker_frames():
    feats, target, active = _batch_and_activity()
    assert feats.shape[:2] == target.shape and feats.shape[2] == OVERLAP_FEATURES.num_mel_bins
    expected = active.sum(axis=1)[:, : target.shape[1]] >= 2
    assert np.array_equal(target.numpy() > 0.5, expected)


def test_with_one_talker_as_the_minimum_every_active_frame_is_a_target():
    _, target, active = _batch_and_activity(min_talkers=1)
    count = active.sum(axis=1)[:, : target.shape[1]]
    assert np.array_equal(target.numpy() > 0.5, count >= 1)
    # the tone bursts pause half the time, so some frames are silent and some overlapped
    assert (count == 0).any() and (count >= 2).any()


def test_export_gives_the_torch_logits(tmp_path):
    torch.manual_seed(0)
    config = OverlapTrainConfig(channels=16, dilations=(1, 2, 4))
    model = OverlapNet(OVERLAP_FEATURES.num_mel_bins, 16, (1, 2, 4)).eval()
    out = tmp_path / "ov.onnx"
    export(model, config, out)
    detector = OverlapDetector.load(out)
    assert detector.context == 2 + 1 + 2 + 4
    feats = np.random.default_rng(0).standard_normal((500, 64)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(feats)[None])[0].numpy()
    np.testing.assert_allclose(detector.logits(feats), expected, rtol=1e-4, atol=1e-4)


def test_command_line_sets_the_width_and_refuses_a_bad_one(monkeypatch):
    from diarize.train import overlap as overlap_mod

    seen = []
    monkeypatch.setattr(overlap_mod, "train", seen.append)
    overlap_mod.main(["--data", "d", "--channels", "96", "--relative-db", "12"])
    assert seen[0].channels == 96 and seen[0].relative_db == 12.0
    with pytest.raises(SystemExit):
        overlap_mod.main(["--data", "d", "--channels", "0"])
    assert len(seen) == 1


@pytest.mark.parametrize(
    "flags", [["--p-reverb", "1.5"], ["--p-reverb", "-0.1"], ["--drr", "10", "0"]]
)
def test_command_line_refuses_augmentation_out_of_range(monkeypatch, flags, capsys):
    from diarize.train import overlap as overlap_mod

    seen = []
    monkeypatch.setattr(overlap_mod, "train", seen.append)
    with pytest.raises(SystemExit):
        overlap_mod.main(["--data", "d", *flags])
    assert not seen
    assert "[train.augment]" in capsys.readouterr().err
