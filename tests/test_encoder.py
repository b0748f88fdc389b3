"""The encoder's public face: the shipped ONNX export, its agreement with the checkpoint it
came from, the export command, and a diarization that imports no torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from diarize.encoder import (
    MODELS_DIR,
    OnnxEncoder,
    load_encoder,
    read_sidecar,
    sha256sum,
    sidecar_path,
)
from diarize.errors import MissingExtraError, ModelError
from tests.conftest import SR, TINY_ONNX, TINY_PT

SHIPPED_PT = MODELS_DIR / "encoder-v5.pt"
SHIPPED_ONNX = MODELS_DIR / "encoder-v5.onnx"


def _meeting_windows(seconds: float = 20.0):
    from diarize.audio import load

    x = load(MODELS_DIR.parent / "examples" / "meeting.wav", SR)[: int(seconds * SR)]
    starts = np.arange(0, len(x) - int(1.5 * SR) + 1, SR // 4)
    return x, np.stack([starts, starts + int(1.5 * SR)], axis=1)


def test_the_shipped_model_is_the_onnx_export_with_its_back_end():
    enc = load_encoder()
    assert isinstance(enc, OnnxEncoder) and enc.path == SHIPPED_ONNX
    assert enc.dim == 192 and enc.sample_rate == SR
    assert enc.extra["cosine_threshold"] == pytest.approx(0.45)
    assert enc.extra["cosine_threshold_narrowband"] == pytest.approx(0.55)
    assert set(enc.extra["plda"]) == {"mean", "whiten", "transform", "psi"}
    assert enc.extra["plda"]["whiten"].shape == (192, 192)
    x, bounds = _meeting_windows(5.0)
    emb = enc.embed(np.stack([x[s:e] for s, e in bounds[:4]]))
    assert emb.shape == (4, 192) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_shipped_files_are_the_ones_the_model_card_names():
    card = (MODELS_DIR / "README.md").read_text(encoding="utf-8")
    for path in (SHIPPED_PT, SHIPPED_ONNX, sidecar_path(SHIPPED_ONNX)):
        assert sha256sum(path) in card, path.name
    # ... and the export was made from the shipped checkpoint as it is now.
    assert read_sidecar(SHIPPED_ONNX)["source"] == {
        "file": "encoder-v5.pt",
        "sha256": sha256sum(SHIPPED_PT),
    }


def test_shipped_export_gives_the_checkpoints_embeddings():
    """Per window, cosine >= 0.9999 between the ONNX export and the .pt it came from, in
    both ways of embedding (a batch of windows; windows of one signal, trunk shared)."""
    pytest.importorskip("torch")
    torch_encoder = load_encoder(SHIPPED_PT)
    onnx_encoder = load_encoder(SHIPPED_ONNX)
    x, bounds = _meeting_windows()
    batch = np.stack([x[s:e] for s, e in bounds[:40]])
    cosine = np.sum(torch_encoder.embed(batch) * onnx_encoder.embed(batch), axis=1)
    assert cosine.min() >= 0.9999, cosine.min()
    a = torch_encoder.embed_windows(x, bounds, chunk=8.0)
    b = onnx_encoder.embed_windows(x, bounds, chunk=8.0)
    cosine = np.sum(a * b, axis=1)
    assert len(cosine) == len(bounds) and cosine.min() >= 0.9999, cosine.min()


def test_export_writes_the_graph_and_its_sidecar(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from diarize.export import export

    summary = export(TINY_PT, tmp_path / "tiny.onnx")
    assert summary["cosine"]["embed"] >= 0.9999 and summary["cosine"]["embed_windows"] >= 0.9999
    card = read_sidecar(tmp_path / "tiny.onnx")
    assert card["source"]["sha256"] == sha256sum(TINY_PT)
    assert card["encoder_config"]["dilations"] == [2, 3]
    assert card["receptive_field"] == 5 + 2 * (2 + 3)  # kernel + 2 x dilations
    # The committed test model is this export (its bytes depend on the torch version, so
    # the embeddings are compared).
    x = np.random.default_rng(0).standard_normal((3, SR)).astype(np.float32) * 0.1
    fresh = load_encoder(tmp_path / "tiny.onnx").embed(x)
    committed = load_encoder(TINY_ONNX).embed(x)
    assert np.sum(fresh * committed, axis=1).min() >= 0.9999
    with pytest.raises(ModelError, match="NAME.onnx"):
        export(TINY_PT, tmp_path / "tiny.bin")


def test_a_checkpoint_without_torch_names_the_extra_and_the_export(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r'\.\[train\]"') as info:
        load_encoder(TINY_PT)
    assert f"--model {TINY_ONNX}" in str(info.value)  # its export lies beside it


def test_missing_or_broken_exports_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_encoder(tmp_path / "nope.onnx")
    (tmp_path / "x.onnx").write_bytes(TINY_ONNX.read_bytes())
    with pytest.raises(ModelError, match="x.npz"):
        load_encoder(tmp_path / "x.onnx")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="sidecar"):
        load_encoder(tmp_path / "x.onnx")
    (tmp_path / "y.onnx").write_bytes(b"not a graph")
    (tmp_path / "y.npz").write_bytes(sidecar_path(TINY_ONNX).read_bytes())
    with pytest.raises(ModelError, match="cannot load the ONNX model"):
        load_encoder(tmp_path / "y.onnx")


def test_diarizing_imports_none_of_the_heavy_packages(tmp_path):
    """The lean path stays lean: what the default pipeline imports (start-up time; importing
    scipy.signal alone takes about a second)."""
    import soundfile as sf

    from tests.conftest import conversation

    x, _ = conversation()
    sf.write(tmp_path / "two.wav", x, SR)
    code = (
        "import sys\n"
        "from diarize.cli import main\n"
        f"sys.argv = ['diarize', {str(tmp_path / 'two.wav')!r}, '-q']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = ['torch', 'sklearn', 'scipy.cluster', 'scipy.signal', 'scipy.stats',"
        " 'pyannote', 'av']\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def _with_narrowband_statistics(tmp_path, shift: float = 0.5):
    """The tiny checkpoint with made-up narrowband batch-norm statistics: every trunk layer's
    mean moved by ``shift`` and its variance doubled."""
    import torch

    from diarize.nn import build_from_checkpoint, read_checkpoint, save_encoder

    ckpt = read_checkpoint(TINY_PT)
    model, features = build_from_checkpoint(ckpt)
    stats = {
        name: {"running_mean": m.running_mean + shift, "running_var": m.running_var * 2.0}
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.BatchNorm1d) and not name.startswith("head")
    }
    extra = {**ckpt.get("extra", {}), "narrowband_bn": {"stats": stats, "alpha": 1.0}}
    return save_encoder(tmp_path / "nb.pt", model, features, ckpt.get("meta", {}), extra), stats


def test_narrowband_statistics_are_exported_and_used_only_by_the_variant(tmp_path):
    """A checkpoint carrying telephone-band batch-norm statistics: the torch variant takes
    exactly those statistics, the export folds them into a second set of trunk weights in
    the sidecar, and its variant gives the torch variant's embeddings while the plain export
    still gives the plain checkpoint's."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from diarize.export import export
    from diarize.nn import load_checkpoint

    pt, stats = _with_narrowband_statistics(tmp_path)
    plain_torch = load_checkpoint(pt)
    variant_torch = plain_torch.narrowband()
    modules = dict(variant_torch.model.named_modules())
    for name, values in stats.items():
        np.testing.assert_allclose(modules[name].running_mean.numpy(), values["running_mean"])
        np.testing.assert_allclose(modules[name].running_var.numpy(), values["running_var"])
    # the plain model is left as it was
    own = dict(plain_torch.model.named_modules())
    assert not np.allclose(own[name].running_mean.numpy(), values["running_mean"])

    summary = export(pt, tmp_path / "nb.onnx")
    worst = summary["cosine_narrowband"]
    assert min(worst["embed"], worst["embed_windows"]) >= 0.9999
    plain_onnx = load_encoder(tmp_path / "nb.onnx")
    variant_onnx = plain_onnx.narrowband()
    assert variant_onnx is not None and plain_onnx.narrowband() is variant_onnx
    x = np.random.default_rng(1).standard_normal((4, int(1.5 * SR))).astype(np.float32) * 0.1
    a, b = plain_onnx.embed(x), variant_onnx.embed(x)
    np.testing.assert_allclose(np.sum(a * plain_torch.embed(x), axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.sum(b * variant_torch.embed(x), axis=1), 1.0, atol=1e-4)
    assert np.sum(a * b, axis=1).min() < 0.999  # the statistics change the embeddings
    # a model without them has no variant
    assert load_encoder(TINY_ONNX).narrowband() is None
    assert load_checkpoint(TINY_PT).narrowband() is None


def test_the_shipped_model_carries_narrowband_statistics():
    enc = load_encoder()
    info = enc.extra["narrowband_bn"]
    assert info["alpha"] == pytest.approx(0.5) and info["recordings"] == 200
    assert enc.narrowband() is not None


def test_a_narrowband_variant_refuses_a_graph_changed_since_its_export(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import shutil

    from diarize.export import export

    pt, _ = _with_narrowband_statistics(tmp_path)
    export(pt, tmp_path / "nb.onnx")
    card = read_sidecar(tmp_path / "nb.onnx")
    assert card["onnx_sha256"] == sha256sum(tmp_path / "nb.onnx")
    assert set(card["narrowband_offsets"]) == set(card["narrowband_initializers"])
    # another graph under the same sidecar (the tiny model's plain export)
    shutil.copy(TINY_ONNX, tmp_path / "nb.onnx")
    with pytest.raises(ModelError, match="export it again"):
        load_encoder(tmp_path / "nb.onnx").narrowband()
