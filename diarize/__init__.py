"""diarize: who spoke when. Speaker diarization with a self-supervised speaker encoder."""

from diarize.types import Diarization, Turn

__version__ = "0.1.0"

__all__ = ["Diarization", "Pipeline", "Turn", "__version__", "diarize", "load_encoder"]


def __getattr__(name: str):
    # Heavy imports (ONNX Runtime; torch for .pt models) happen on first use, so
    # `diarize --help` stays fast.
    if name in ("Pipeline", "diarize"):
        from diarize import pipeline

        return getattr(pipeline, name)
    if name == "load_encoder":
        from diarize.encoder import load_encoder

        return load_encoder
    raise AttributeError(f"module 'diarize' has no attribute {name!r}")
