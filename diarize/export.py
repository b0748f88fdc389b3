"""Export a calibrated ``.pt`` checkpoint to what diarizing runs without torch.

    diarize export MODEL.pt [-o OUT.onnx]        (or: python -m diarize.export MODEL.pt)

writes ``OUT.onnx`` (default: ``MODEL.onnx`` beside the checkpoint) and its sidecar
``OUT.npz`` (front end and encoder configuration, back end, calibration record, meta, and the
checkpoint's name and sha256), then checks that the export and the checkpoint give the same
embeddings (cosine >= :data:`MIN_COSINE` for every window, one batch of windows and one long
signal embedded window by window with the shared trunk). Needs the ``train`` extra (torch and
onnx). The shipped ``models/encoder-v5.onnx`` was made with ``diarize export
models/encoder-v5.pt``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from diarize.encoder import SIDECAR_VERSION, OnnxEncoder, sha256sum, sidecar_path
from diarize.errors import ModelError, require

logger = logging.getLogger(__name__)

#: Lowest cosine between an exported and the original embedding that the check accepts.
MIN_COSINE = 0.9999
OPSET = 17


def _graph_module(model):
    """The network as the ONNX graph computes it (see ``diarize.encoder.OnnxEncoder``)."""
    import torch

    class Exported(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, features, starts, ends):
            h = self.net.trunk(features).to(torch.float64)  # (B, P, T)
            batch, channels = h.shape[0], h.shape[1]
            zeros = torch.zeros_like(h[:, :, :1])
            s1 = torch.cat([zeros, torch.cumsum(h, dim=2)], dim=2)  # (B, P, T + 1)
            s2 = torch.cat([zeros, torch.cumsum(h * h, dim=2)], dim=2)
            a = starts.unsqueeze(1).expand(-1, channels, -1)  # (B, P, W)
            b = ends.unsqueeze(1).expand(-1, channels, -1)
            n = (ends - starts).to(torch.float64).unsqueeze(1)
            mean = (torch.gather(s1, 2, b) - torch.gather(s1, 2, a)) / n
            var = (torch.gather(s2, 2, b) - torch.gather(s2, 2, a)) / n - mean * mean
            std = torch.sqrt(torch.clamp(var, min=1e-5))
            stats = torch.cat([mean, std], dim=1).transpose(1, 2).to(torch.float32)
            emb = self.net.embed_stats(stats.reshape(-1, 2 * channels))
            return emb.reshape(batch, -1, emb.shape[-1])

    return Exported(model).eval()


def _to_json(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    """Checkpoint data -> JSON, tensors and arrays moved to ``arrays`` under ``key``."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _to_json(v, arrays, f"{key}/{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, arrays, f"{key}/{i}") for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed entry dates, so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _check_signal(sample_rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """A fixed test signal: noise with a slowly gliding harmonic tone (voice-like spectra)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140.0 + 60.0 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    x = 0.1 * x + 0.02 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def compare(torch_encoder, onnx_encoder, seconds: float = 20.0) -> dict[str, float]:
    """Lowest per-window cosine between the two encoders' embeddings: a batch of 1.5 s windows
    (``embed``) and 1.5 s windows every 0.25 s of one signal (``embed_windows``)."""
    sr = onnx_encoder.sample_rate
    x = _check_signal(sr, seconds)
    win, step = int(1.5 * sr), int(0.25 * sr)
    starts = np.arange(0, len(x) - win + 1, step)
    bounds = np.stack([starts, starts + win], axis=1)
    batch = np.stack([x[s : s + win] for s in starts[:32]])
    a = torch_encoder.embed(batch)
    b = onnx_encoder.embed(batch)
    c = torch_encoder.embed_windows(x, bounds, chunk=8.0)
    d = onnx_encoder.embed_windows(x, bounds, chunk=8.0)
    return {
        "embed": float(np.min(np.sum(a * b, axis=1))),
        "embed_windows": float(np.min(np.sum(c * d, axis=1))),
        "windows": float(len(batch) + len(bounds)),
    }


def export(checkpoint: str | Path, out: str | Path | None = None, check: bool = True) -> dict:
    """Write ``out`` (.onnx) and its ``.npz`` sidecar from ``checkpoint``; returns a summary
    (paths, sha256 of all three files, lowest cosines of the check)."""
    require("torch", "diarize export")
    require("onnx", "diarize export")
    import onnx
    import torch

    from diarize.nn import build_from_checkpoint, load_checkpoint, read_checkpoint

    checkpoint = Path(checkpoint)
    out = Path(out) if out is not None else checkpoint.with_suffix(".onnx")
    if out.suffix.lower() != ".onnx":
        raise ModelError(f"{out}: the export must be named NAME.onnx")
    ckpt = read_checkpoint(checkpoint)
    model, feature_config = build_from_checkpoint(ckpt)
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_onnx = out.with_name(out.name + ".tmp")
    tmp_npz = out.with_name(out.stem + ".npz.tmp")
    _export_graph(model, feature_config, tmp_onnx)
    graph = onnx.load(str(tmp_onnx))
    onnx.checker.check_model(graph)
    arrays: dict[str, np.ndarray] = {}
    narrowband, offsets = _narrowband_initializers(model, ckpt, feature_config, graph, tmp_onnx)
    header = {
        "format_version": SIDECAR_VERSION,
        "feature_config": _to_json(ckpt["feature_config"], arrays, "feature_config"),
        "encoder_config": _to_json(ckpt["encoder_config"], arrays, "encoder_config"),
        "receptive_field": int(model.receptive_field),
        "embed_dim": int(model.config.embed_dim),
        "meta": _to_json(dict(ckpt.get("meta", {})), arrays, "meta"),
        "extra": _to_json(dict(ckpt.get("extra", {})), arrays, "extra"),
        "source": {"file": checkpoint.name, "sha256": sha256sum(checkpoint)},
        "export": {
            "onnx_file": out.name,
            "opset": OPSET,
            "torch": torch.__version__.split("+")[0],
            "onnx": onnx.__version__,
            "inputs": "features (batch, num_frames, num_mel_bins) float32 normalised log-mel; "
            "starts, ends (batch, num_windows) int64 frame range of each window",
            "outputs": "embeddings (batch, num_windows, embed_dim) float32, not L2-normed",
        },
    }
    if narrowband:
        # The trunk folded with the telephone-band batch-norm statistics, float16 as the
        # checkpoint's own weights, and where each replaced initialiser's float32 bytes lie
        # in the .onnx file (diarize.encoder.OnnxEncoder.narrowband writes them there).
        header["narrowband_initializers"] = _to_json(
            {k: v.astype(np.float16) for k, v in narrowband.items()},
            arrays,
            "narrowband_initializers",
        )
        header["narrowband_offsets"] = offsets
        header["onnx_sha256"] = sha256sum(tmp_onnx)
    arrays["config"] = np.array(json.dumps(header, sort_keys=True))
    write_npz(tmp_npz, arrays)
    os.replace(tmp_onnx, out)
    os.replace(tmp_npz, sidecar_path(out))
    summary: dict[str, Any] = {
        "onnx": str(out),
        "sidecar": str(sidecar_path(out)),
        "sha256": {
            checkpoint.name: header["source"]["sha256"],
            out.name: sha256sum(out),
            sidecar_path(out).name: sha256sum(sidecar_path(out)),
        },
    }
    if check:
        reference, exported = load_checkpoint(checkpoint), OnnxEncoder(out)
        pairs = [("cosine", "", reference, exported)]
        if narrowband:
            variants = (reference.narrowband(), exported.narrowband())
            pairs.append(("cosine_narrowband", " (narrowband)", *variants))
        for key, label, a, b in pairs:
            cosines = compare(a, b)
            summary[key] = cosines
            worst = min(cosines["embed"], cosines["embed_windows"])
            if worst < MIN_COSINE:
                raise ModelError(
                    f"{out}: the export's embeddings{label} differ from {checkpoint}'s "
                    f"(lowest cosine {worst:.6f} < {MIN_COSINE})"
                )
    return summary


def _export_graph(model, feature_config, path: Path) -> None:
    """``model`` as the ONNX graph :class:`diarize.encoder.OnnxEncoder` runs, into ``path``."""
    import torch

    features = torch.zeros(2, 200, feature_config.num_mel_bins)
    starts = torch.tensor([[0, 10], [5, 0]], dtype=torch.int64)
    ends = torch.tensor([[150, 200], [120, 200]], dtype=torch.int64)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript-based exporter is the one that needs nothing beyond onnx; torch
        # calls it legacy and says so on every call.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            _graph_module(model),
            (features, starts, ends),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["features", "starts", "ends"],
            output_names=["embeddings"],
            dynamic_axes={
                "features": {0: "batch", 1: "num_frames"},
                "starts": {0: "batch", 1: "num_windows"},
                "ends": {0: "batch", 1: "num_windows"},
                "embeddings": {0: "batch", 1: "num_windows"},
            },
        )


def _unique_offset(data: bytes, value: np.ndarray, name: str) -> int:
    """Where the float32 bytes of initialiser ``value`` lie in the serialised graph."""
    raw = np.ascontiguousarray(value, dtype="<f4").tobytes()
    offset = data.find(raw)
    if offset < 0 or data.find(raw, offset + 1) >= 0:
        raise ModelError(f"initialiser {name}: its bytes are not found once in the export")
    return offset


def _narrowband_initializers(
    model, ckpt, feature_config, graph, tmp_onnx: Path
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The initialisers of the graph exported with the checkpoint's telephone-band batch-norm
    statistics (``extra["narrowband_bn"]``) that differ from ``graph``'s (the trunk's
    convolutions, into which the exporter folds batch norm), and the byte offset of each
    one's float32 data in ``tmp_onnx`` (``graph`` serialised). Empty without such statistics."""
    import onnx
    from onnx import numpy_helper

    from diarize.nn import narrowband_model

    variant = narrowband_model(model, dict(ckpt.get("extra", {})))
    if variant is None:
        return {}, {}
    path = tmp_onnx.with_name(tmp_onnx.name + ".narrowband")
    try:
        _export_graph(variant, feature_config, path)
        other = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    finally:
        path.unlink(missing_ok=True)
    own = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    if set(own) != set(other):
        raise ModelError("the narrowband export's graph differs from the export's")
    changed = {k: v for k, v in other.items() if not np.array_equal(v, own[k])}
    data = tmp_onnx.read_bytes()
    return changed, {k: _unique_offset(data, own[k], k) for k in changed}


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("-o", "--out", type=Path, default=None)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args(argv)
    summary = export(args.checkpoint, args.out, check=not args.no_check)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
