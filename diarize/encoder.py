"""The segment encoder's public face, and the model that diarizing runs: an ONNX export.

Public face (what the pipeline, benchmarks and evaluations use)::

    enc = load_encoder(path=None)          # None = models/encoder-v5.onnx (no torch needed)
    emb = enc.embed(waveforms)             # (num_windows, num_samples) -> (num_windows, dim)
    emb = enc.embed_windows(waveform, bounds)  # windows of one long signal, trunk shared

``load_encoder`` reads an ONNX export (``.onnx`` plus its ``.npz`` sidecar, written by
``diarize export MODEL.pt``) with ONNX Runtime and a numpy front end, or a PyTorch checkpoint
(any other suffix, ``.pt``) with torch, which needs the ``train`` extra. The network, training
and checkpoints live in :mod:`diarize.nn`; the names that used to live here (``Encoder``,
``SegmentEncoder``, ``save_encoder``, ``random_encoder``, ...) still resolve, on first use.

The sidecar holds everything of the checkpoint that is not the network: the front end and
encoder configuration, the back end (PLDA, stopping thresholds), the calibration record, the
training meta, and the name and sha256 of the ``.pt`` it was exported from.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from diarize.config import FeatureConfig
from diarize.errors import ModelError, require

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "encoder-v5.onnx"
#: Sidecar format written by ``diarize export`` (diarize.export.SIDECAR_VERSION).
SIDECAR_VERSION = 1
#: Longest stretch of audio (seconds) whose trunk runs in one call: the network's
#: intermediate arrays (tens of bytes per frame and channel) stay under ~100 MB.
MAX_SEGMENT_SECONDS = 30.0


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


_l2 = l2_normalise


class EmbeddingModel:
    """Interface every encoder offers (the shipped one, MFCC statistics, references).

    Subclasses implement ``embed``; ``embed_windows`` defaults to slicing and batching.
    """

    sample_rate: int = 16000
    dim: int = 0
    name: str = "encoder"

    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        """(num_windows, num_samples) float32 mono -> (num_windows, dim) float32, L2-normed."""
        raise NotImplementedError

    def narrowband(self) -> EmbeddingModel | None:
        """The same encoder with the batch-norm statistics of telephone-band speech, for
        telephone-band input; None when the model carries none (the default)."""
        return None

    def embed_windows(
        self, waveform: np.ndarray, bounds: np.ndarray, batch_size: int = 64, chunk: float = 120.0
    ) -> np.ndarray:
        """Embed windows ``bounds`` (num_windows, 2) [start, end) in samples of one waveform.

        Returns (num_windows, dim) float32, L2-normed. Windows of equal length are batched.
        """
        bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
        out = np.zeros((len(bounds), self.dim), dtype=np.float32)
        lengths = bounds[:, 1] - bounds[:, 0]
        for length in np.unique(lengths):
            idx = np.flatnonzero(lengths == length)
            for b in range(0, len(idx), batch_size):
                sel = idx[b : b + batch_size]
                batch = np.stack([waveform[s : s + length] for s in bounds[sel, 0]])
                out[sel] = self.embed(batch)
        return out


# --------------------------------------------------------------------------- ONNX Runtime

_threads_lock = threading.Lock()
_num_threads: int | None = None


def set_num_threads(num_threads: int | None) -> None:
    """Threads of the encoder: intra-op threads of the ONNX Runtime sessions created from now
    on (None = ONNX Runtime's default, one per physical core), and torch's threads, now if
    torch is imported, else when :mod:`diarize.nn` imports it. ``diarize batch`` workers set
    their share of the cores."""
    global _num_threads
    with _threads_lock:
        _num_threads = num_threads
    if num_threads is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(num_threads))


def get_num_threads() -> int | None:
    """What :func:`set_num_threads` last set (None: the runtimes' defaults)."""
    return _num_threads


def onnx_session(path: str | Path, num_threads: int | None = None, model: bytes | None = None):
    """An ONNX Runtime CPU session for ``path``, or for the serialised graph ``model`` (named
    ``path`` in errors); ``num_threads`` None = the process default of
    :func:`set_num_threads`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    threads = num_threads if num_threads is not None else _num_threads
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: spinning threads burn the cores that other
    # processes (or our own numpy) need; on a busy 2-core machine the example took 1.6 s
    # from start to exit instead of 2.7 s with spinning.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # warnings about unused initialisers are not ours to fix
    try:
        source = model if model is not None else str(path)
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: cannot load the ONNX model ({reason})") from None


def sidecar_path(onnx_path: str | Path) -> Path:
    """Where the configuration and back end of an ONNX export live: ``NAME.npz``."""
    return Path(onnx_path).with_suffix(".npz")


def _restore(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON from the sidecar with its array placeholders replaced by the arrays."""
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _restore(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, arrays) for v in value]
    return value


def read_sidecar(onnx_path: str | Path) -> dict[str, Any]:
    """The sidecar of an ONNX export as one dictionary (arrays in place)."""
    path = sidecar_path(onnx_path)
    if not path.is_file():
        raise ModelError(
            f"{path}: not found; an exported model is NAME.onnx with NAME.npz beside it "
            "(diarize export writes both)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        header = json.loads(str(arrays.pop("config")[()]))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: not a diarize model sidecar ({exc})") from None
    if int(header.get("format_version", -1)) != SIDECAR_VERSION:
        raise ModelError(f"{path}: unsupported sidecar format {header.get('format_version')}")
    return _restore(header, arrays)


class OnnxEncoder(EmbeddingModel):
    """An exported encoder: numpy front end, ONNX Runtime network, numpy pooling indices.

    The ONNX graph takes normalised log-mel features ``(batch, num_frames, num_mel_bins)`` and,
    per batch item, the first and one-past-last frame of each window ``(batch, num_windows)``
    int64, and returns the windows' embeddings before length normalisation ``(batch,
    num_windows, dim)``: trunk, mean+std pooling over each window's frames (float64 cumulative
    sums), linear head. One call embeds every window of a chunk of audio.
    """

    def __init__(self, path: str | Path, num_threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: model file not found")
        card = read_sidecar(path)
        try:
            self.feature_config = FeatureConfig(**card["feature_config"])
            self.encoder_config = dict(card["encoder_config"])
            self.receptive_field = int(card["receptive_field"])
            self.dim = int(card["embed_dim"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{sidecar_path(path)}: incomplete sidecar ({exc})") from None
        from diarize.features import LogMel

        self.path = path
        self.fbank = LogMel(self.feature_config)
        self.sample_rate = self.feature_config.sample_rate
        self.meta = dict(card.get("meta", {}))
        self.meta["path"] = str(path)
        self.extra = dict(card.get("extra", {}))
        self.source = dict(card.get("source", {}))
        self.name = str(self.meta.get("name", "encoder"))
        self.session = onnx_session(path, num_threads)
        self._torch = None
        self._num_threads = num_threads
        self._narrowband = card.get("narrowband_initializers", {})
        self._narrowband_offsets = card.get("narrowband_offsets", {})
        self._onnx_sha256 = card.get("onnx_sha256")
        self._narrowband_variant: OnnxEncoder | None = None

    def narrowband(self) -> OnnxEncoder | None:
        """The export with the trunk weights folded with telephone-band batch-norm statistics
        (``narrowband_initializers`` of the sidecar, written by ``diarize export`` when the
        checkpoint carries ``extra["narrowband_bn"]``): one more ONNX Runtime session over a
        copy of the graph in memory whose trunk initialisers are overwritten with those (at
        the byte offsets the export recorded, so the graph stays as optimisable as the file
        itself). None when the sidecar has none."""
        if not self._narrowband:
            return None
        if self._narrowband_variant is None:
            data = bytearray(self.path.read_bytes())
            if hashlib.sha256(data).hexdigest() != self._onnx_sha256:
                raise ModelError(
                    f"{self.path} has changed since its sidecar was written; export it again"
                )
            for name, value in self._narrowband.items():
                raw = np.ascontiguousarray(value, dtype="<f4").tobytes()
                offset = int(self._narrowband_offsets[name])
                data[offset : offset + len(raw)] = raw
            variant = copy.copy(self)
            variant.session = onnx_session(self.path, self._num_threads, model=bytes(data))
            variant._narrowband = {}
            variant.name = f"{self.name} (narrowband statistics)"
            self._narrowband_variant = variant
        return self._narrowband_variant

    def _run(self, feats: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        (emb,) = self.session.run(
            ["embeddings"],
            {
                "features": np.ascontiguousarray(feats, dtype=np.float32),
                "starts": np.ascontiguousarray(starts, dtype=np.int64),
                "ends": np.ascontiguousarray(ends, dtype=np.int64),
            },
        )
        return emb

    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = np.asarray(waveforms, dtype=np.float32)
        if waveforms.ndim != 2:
            raise ValueError(f"expected (num_windows, num_samples), got {waveforms.shape}")
        if waveforms.shape[1] < self.fbank.win_samples * 2:
            raise ValueError(f"windows of {waveforms.shape[1]} samples are too short")
        feats = self.fbank(waveforms)
        num = len(feats)
        starts = np.zeros((num, 1), dtype=np.int64)
        ends = np.full((num, 1), feats.shape[1], dtype=np.int64)
        return l2_normalise(self._run(feats, starts, ends)[:, 0])

    def embed_windows(
        self, waveform: np.ndarray, bounds: np.ndarray, batch_size: int = 64, chunk: float = 120.0
    ) -> np.ndarray:
        """Shared-trunk extraction: the front end and trunk run once per stretch of audio and
        each window pools the trunk's frames it covers (as ``diarize.nn.Encoder`` does).

        A stretch is a run of windows with less than two receptive fields between them (the
        frames of a longer pause are needed by no window and are not computed), cut at
        ``min(chunk, MAX_SEGMENT_SECONDS)`` seconds; each is computed with its context (the
        receptive field and the CMN half-window) on both sides, so the embeddings do not
        depend on where the cuts fall.
        """
        bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
        out = np.zeros((len(bounds), self.dim), dtype=np.float32)
        if len(bounds) == 0:
            return out
        from diarize.features import frame_ranges

        hop, win = self.fbank.hop_samples, self.fbank.win_samples
        f0, f1 = frame_ranges(bounds, hop, win)
        seconds = min(chunk, MAX_SEGMENT_SECONDS)
        max_frames = max(int(seconds * self.sample_rate) // hop, 1000)
        # Context on both sides: CMN half-window plus the trunk's receptive field.
        margin = self.fbank.cmn_frames // 2 + self.receptive_field
        total_frames = self.fbank.num_frames(len(waveform))
        delta = np.zeros(total_frames + 1, dtype=np.int64)
        np.add.at(delta, np.clip(f0, 0, total_frames), 1)
        np.add.at(delta, np.clip(f1, 0, total_frames), -1)
        covered = np.cumsum(delta[:-1]) > 0
        order = np.argsort(f0, kind="stable")
        starts, ends = f0[order].tolist(), f1[order].tolist()
        pos = 0
        while pos < len(order):
            seg_lo, seg_hi, end = starts[pos], ends[pos], pos + 1
            while end < len(order) and starts[end] <= seg_hi + 2 * margin:
                if max(seg_hi, ends[end]) - seg_lo > max_frames:
                    break
                seg_hi = max(seg_hi, ends[end])
                end += 1
            sel, pos = order[pos:end], end
            lo = max(0, seg_lo - margin)
            hi = min(total_frames, seg_hi + margin)
            seg = np.ascontiguousarray(waveform[lo * hop : (hi - 1) * hop + win], dtype=np.float32)
            # Normalise with speech (window-covered) frames only, as training windows are.
            feats = self.fbank(seg[None], covered[lo:hi][None])
            num = feats.shape[1]
            a = np.clip(f0[sel] - lo, 0, num - 1)
            b = np.maximum(np.clip(f1[sel] - lo, 1, num), a + 1)
            out[sel] = l2_normalise(self._run(feats, a[None], b[None])[0])
        return out

    def torch_encoder(self):
        """The ``.pt`` checkpoint this model was exported from, as a torch encoder (what
        ``--adapt`` fine-tunes); needs the train extra and the checkpoint beside the export,
        unchanged since (same sha256)."""
        if self._torch is not None:
            return self._torch
        require("torch", "--adapt (fine-tuning the encoder on the recording)")
        from diarize.nn import load_checkpoint

        name = self.source.get("file")
        if not name:
            raise ModelError(f"{self.path}: the sidecar does not name the checkpoint it came from")
        pt = self.path.parent / name
        if not pt.is_file():
            raise ModelError(f"{pt}: the checkpoint {self.path.name} was exported from is missing")
        if self.source.get("sha256") and sha256sum(pt) != self.source["sha256"]:
            raise ModelError(
                f"{pt} has changed since {self.path.name} was exported from it; "
                f"export it again (diarize export {pt})"
            )
        self._torch = load_checkpoint(pt)
        return self._torch


# --------------------------------------------------------------------------- loading


def default_model_path() -> Path:
    env = os.environ.get("DIARIZE_MODEL")
    return Path(env) if env else MODELS_DIR / DEFAULT_MODEL


def sha256sum(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_encoder(path: str | Path | None = None) -> EmbeddingModel:
    """Load an encoder (``None`` = the shipped model, or ``$DIARIZE_MODEL``).

    ``NAME.onnx`` (with ``NAME.npz`` beside it) runs with ONNX Runtime; anything else is read
    as a PyTorch checkpoint, which needs the train extra.
    """
    path = Path(path) if path is not None else default_model_path()
    if path.suffix.lower() == ".onnx":
        return OnnxEncoder(path)
    if not path.is_file():
        raise ModelError(f"{path}: model checkpoint not found")
    try:
        require("torch", f"the PyTorch checkpoint {path}")
    except ImportError as exc:
        exported = path.with_suffix(".onnx")
        hint = (
            f"; or use its ONNX export, --model {exported}"
            if exported.is_file()
            else f"; or, where the train extra is installed, export it once with "
            f"'diarize export {path}' and use {exported} here"
        )
        raise type(exc)(f"{exc}{hint}") from None
    from diarize.nn import load_checkpoint

    return load_checkpoint(path)


_TORCH_NAMES = {
    "FORMAT_VERSION",
    "ResBlock",
    "SegmentEncoder",
    "Encoder",
    "checkpoint_dict",
    "save_encoder",
    "build_from_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
    "random_encoder",
}


def __getattr__(name: str):
    # The torch side (diarize.nn) is imported on first use of one of its names.
    if name in _TORCH_NAMES:
        import diarize.nn

        return getattr(diarize.nn, name)
    raise AttributeError(f"module 'diarize.encoder' has no attribute {name!r}")
