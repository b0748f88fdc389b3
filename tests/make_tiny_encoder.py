"""Writes tests/data/tiny-encoder.{pt,onnx,npz}: the tests' small untrained encoder (random
weights), as a checkpoint and as its ONNX export. Needs the train extra.

    python tests/make_tiny_encoder.py

The committed files are the reference: ``random_encoder`` seeds the weight matrices, but the
biases keep torch's default initialisation, so a new run writes other biases.
"""

from __future__ import annotations

from pathlib import Path

from diarize.config import EncoderConfig

DATA = Path(__file__).resolve().parent / "data"
TINY_CONFIG = EncoderConfig(channels=32, dilations=(2, 3), pool_channels=64, embed_dim=32)


def tiny_torch_encoder():
    from diarize.encoder import random_encoder

    return random_encoder(0, TINY_CONFIG)


def write(folder: Path = DATA) -> Path:
    """The checkpoint and its export in ``folder``; returns the .onnx path."""
    from diarize.encoder import save_encoder
    from diarize.export import export

    enc = tiny_torch_encoder()
    folder.mkdir(parents=True, exist_ok=True)
    pt = save_encoder(folder / "tiny-encoder.pt", enc.model, enc.feature_config, {"name": "tiny"})
    return Path(export(pt)["onnx"])


if __name__ == "__main__":
    print(write())
