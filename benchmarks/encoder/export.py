"""Finish a training checkpoint for shipping: batch-norm statistics re-estimated on clean
training windows, optionally the pair-LDA back end folded in, float16 weights.

Extras: `train`.

    python -m benchmarks.encoder.export runs/NAME/encoder.pt --data DATA... --out models/X.pt
        [--pair-lda] [--lda-dim N] [--bn-batches 8] [--seed 0]

(The training loop of this tree does the same at its final save; this script finishes
checkpoints written without it and records what it did in the checkpoint's meta.)
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from diarize.encoder import Encoder, load_encoder, sha256sum
from diarize.train import data as data_mod
from diarize.train.fold import (
    export_encoder,
    fold_affine,
    pair_embeddings,
    pair_lda,
    recalibrate_batchnorm,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--bn-batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--window", type=float, default=1.5)
    parser.add_argument("--pair-lda", action="store_true")
    parser.add_argument("--lda-dim", type=int, default=0)
    parser.add_argument("--lda-pairs", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fp32", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(2)
    enc = load_encoder(args.checkpoint)
    recs = data_mod.load_recordings(args.data)
    notes = {}
    if args.bn_batches > 0:
        # The same clean batches the training loop uses (its seed + 7919).
        sampler = data_mod.PairSampler(recs, 0.5, 0.5, args.seed + 7919)
        n = int(round(args.window * 16000))

        def batches():
            for _ in range(args.bn_batches):
                b = sampler.sample(args.batch_size, n)
                yield torch.from_numpy(np.concatenate([b.first, b.second]))

        recalibrate_batchnorm(enc.model, enc.fbank, batches())
        notes["bn_recalibrated_windows"] = 2 * args.batch_size * args.bn_batches
    if args.pair_lda:
        x1, x2 = pair_embeddings(enc, recs, args.lda_pairs, args.window, seed=args.seed + 104729)
        mean, transform, _ = pair_lda(x1, x2, args.lda_dim or None)
        enc = fold_affine(enc, mean, transform)
        notes["pair_lda_pairs"] = len(x1)
    enc = Encoder(enc.model, enc.feature_config, {**enc.meta, **notes}, enc.extra)
    path = export_encoder(
        enc, args.out, half=not args.fp32, meta={"exported_from": args.checkpoint}
    )
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, sha256 {sha256sum(path)}")


if __name__ == "__main__":
    main()
