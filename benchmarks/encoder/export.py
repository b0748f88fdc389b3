"""Finish a training checkpoint for shipping: batch-norm statistics re-estimated on clean
training windows (optionally in given shares per data source), optionally the pair-LDA back
end folded in, float16 weights.

Extras: `train`.

    python -m benchmarks.encoder.export runs/NAME/encoder.pt --data DATA... --out models/X.pt
        [--source-weights W,W,...] [--pair-lda] [--lda-dim N] [--bn-batches 8] [--seed 0]

``--source-weights`` gives each ``--data`` source its share of the batch-norm windows (as
the training option ``bn_source_weights``); without it every recording is weighted by its
speech, so the largest source sets the statistics.

(The training loop of this tree does the same at its final save; this script finishes
checkpoints written without it and records what it did in the checkpoint's meta.)
"""

from __future__ import annotations

import argparse
import logging

import torch

from diarize.encoder import Encoder, load_encoder, sha256sum
from diarize.train import data as data_mod
from diarize.train.fold import (
    clean_batches,
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
    parser.add_argument(
        "--source-weights",
        default="",
        help="comma-separated share of each --data source in the batch-norm windows",
    )
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
    weights = tuple(float(w) for w in args.source_weights.split(",")) if args.source_weights else ()
    if weights and len(weights) != len(args.data):
        parser.error(f"--source-weights has {len(weights)} value(s) for {len(args.data)} source(s)")
    if weights:
        recs, groups = data_mod.load_grouped_recordings(args.data)
    else:
        recs, groups = data_mod.load_recordings(args.data), None
    notes = {}
    if args.bn_batches > 0:
        # The same clean batches the training loop uses (its seed + 7919).
        batches = clean_batches(
            recs,
            args.bn_batches,
            args.batch_size,
            args.window,
            args.seed + 7919,
            groups=groups,
            group_weights=weights or None,
        )
        recalibrate_batchnorm(enc.model, enc.fbank, batches)
        notes["bn_recalibrated_windows"] = 2 * args.batch_size * args.bn_batches
        if weights:
            notes["bn_source_weights"] = list(weights)
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
