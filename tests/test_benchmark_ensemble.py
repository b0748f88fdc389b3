"""The block-diagonal ensemble of two encoders embeds as the two side by side."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.encoder.ensemble import combine, combined_narrowband, main  # noqa: E402
from diarize.config import EncoderConfig  # noqa: E402
from diarize.nn import load_checkpoint, random_encoder, save_encoder  # noqa: E402

SMALL = EncoderConfig(channels=16, kernel_size=3, dilations=(1, 2), pool_channels=24, embed_dim=8)


def _pair():
    first, second = random_encoder(1, SMALL), random_encoder(2, SMALL)
    # Batch-norm statistics away from 0 / 1, so a swapped half would show.
    for seed, enc in ((3, first), (4, second)):
        gen = torch.Generator().manual_seed(seed)
        for m in enc.model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return first, second


def test_raw_embedding_is_the_pair_side_by_side():
    first, second = _pair()
    model = combine(first.model, second.model)
    assert model.config.embed_dim == 16 and model.config.channels == 32
    feats = torch.randn(2, 60, first.feature_config.num_mel_bins)
    with torch.no_grad():
        got = model(feats)
        a, b = first.model(feats), second.model(feats)
    torch.testing.assert_close(got[:, :8], a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[:, 8:], b, atol=1e-5, rtol=1e-5)


def test_different_architectures_are_refused():
    other = random_encoder(
        1, EncoderConfig(channels=8, kernel_size=3, dilations=(1,), pool_channels=8, embed_dim=4)
    )
    with pytest.raises(ValueError, match="architecture"):
        combine(random_encoder(0, SMALL).model, other.model)


def test_narrowband_statistics_are_stacked_or_dropped():
    one = {
        "narrowband_bn": {
            "alpha": 0.5,
            "stats": {"stem.1": {"running_mean": torch.zeros(2), "running_var": torch.ones(2)}},
        }
    }
    two = {
        "narrowband_bn": {
            "alpha": 0.5,
            "stats": {
                "stem.1": {
                    "running_mean": torch.full((2,), 3.0),
                    "running_var": torch.full((2,), 4.0),
                }
            },
        }
    }
    both = combined_narrowband(one, two)
    assert both["alpha"] == 0.5
    assert both["stats"]["stem.1"]["running_mean"].tolist() == [0, 0, 3, 3]
    assert both["stats"]["stem.1"]["running_var"].tolist() == [1, 1, 4, 4]
    assert combined_narrowband(one, {}) is None


def test_command_writes_a_checkpoint_the_pipeline_loads(tmp_path, capsys):
    first, second = _pair()
    paths = []
    for name, enc in (("a", first), ("b", second)):
        paths.append(tmp_path / f"{name}.pt")
        save_encoder(paths[-1], enc.model, enc.feature_config, {"name": name})
    assert main([str(paths[0]), str(paths[1]), "--out", str(tmp_path / "ens.pt")]) == 0
    loaded = load_checkpoint(tmp_path / "ens.pt")
    rng = np.random.default_rng(0)
    wave = rng.standard_normal((1, 24000)).astype(np.float32)
    emb = loaded.embed(wave)[0]
    # The pair's embeddings, each un-normalised, then normalised together.
    feats = first.fbank(torch.from_numpy(wave))
    with torch.no_grad():
        raw = torch.cat([first.model(feats), second.model(feats)], dim=1)[0].numpy()
    np.testing.assert_allclose(emb, raw / np.linalg.norm(raw), atol=1e-5)
    assert "ens.pt" in capsys.readouterr().out
