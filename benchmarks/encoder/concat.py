"""Two encoders as one: their window embeddings concatenated, through the crossdomain benchmark.

    python -m benchmarks.encoder.concat --second runs/v2/encoder-v2.onnx --threshold 0.6 \\
        --variants shipped,concat-tuned,one-speaker --out report.md

Both embeddings are L2-normed, so the concatenation divided by sqrt(2) is too, and its cosine
is the mean of the two encoders' cosines: the natural stopping threshold is the mean of their
learned thresholds (``--threshold``). ``concat-tuned`` chooses the threshold on the
benchmark's tuning set instead. Every other option is ``benchmarks.crossdomain``'s; its
``shipped`` rows become the concatenation.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der
from diarize.encoder import EmbeddingModel, load_encoder


class Concatenated(EmbeddingModel):
    """``first`` and ``second`` side by side (cosine = the mean of their cosines)."""

    name = "concat"

    def __init__(self, first: EmbeddingModel, second: EmbeddingModel, threshold: float):
        if first.sample_rate != second.sample_rate:
            raise ValueError("the two encoders must share a sample rate")
        self.first, self.second = first, second
        self.dim = first.dim + second.dim
        self.sample_rate = first.sample_rate
        self.extra = {"cosine_threshold": threshold}
        self.meta = {"path": "concatenation"}

    def embed_windows(self, waveform, bounds, batch_size=64, chunk=120.0) -> np.ndarray:
        a = self.first.embed_windows(waveform, bounds, batch_size, chunk)
        b = self.second.embed_windows(waveform, bounds, batch_size, chunk)
        return (np.concatenate([a, b], axis=1) / np.sqrt(2.0)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first", default=None, help="first encoder (default: shipped)")
    parser.add_argument("--second", required=True, help="second encoder (.onnx or .pt)")
    parser.add_argument("--threshold", type=float, required=True, help="cosine threshold")
    args, rest = parser.parse_known_args(argv)
    first, second = load_encoder(args.first), load_encoder(args.second)
    build = cd.Encoders._build

    def concatenated(self, name):
        if name != "shipped":
            return build(self, name)
        self.notes[name] = (
            f"concatenation of `{args.first or 'the shipped encoder'}` and `{args.second}`, "
            f"cosine threshold {args.threshold}"
        )
        return Concatenated(first, second, args.threshold)

    cd.Encoders._build = concatenated
    cd.VARIANTS.append(
        der.Variant(
            "concat-tuned",
            "shipped",
            "the concatenation, threshold tuned on the tuning set",
            threshold="tuned",
        )
    )
    return cd.main(rest)


if __name__ == "__main__":
    sys.exit(main())
