"""Batch-norm statistics of telephone-band speech, stored in a checkpoint for telephone-band input.

Extras: `train`.

    python -m benchmarks.encoder.narrowband_bn models/encoder-v5.pt \
        --data ../shared/data/train/librispeech/librispeech_train-clean-100 runs/so762/train.lst \
        --files 50 --alpha 0.5 --out models/encoder-v5.pt
    diarize export models/encoder-v5.pt

Through a telephone band the log-mel bands above 3.4 kHz hold nothing, so every channel of the
trunk sees inputs its batch-norm statistics (estimated on wideband speech) do not describe.
This passes ``--files`` recordings of each ``--data`` source (chosen at random with
``--seed``, unlabeled) through the telephone channel of ``benchmarks.crossdomain`` (300-3400
Hz, 8 kHz, G.711 mu-law, back to 16 kHz as the pipeline reads it), runs the trunk over 1.5 s
windows every 0.25 s of them, and stores the trunk's batch-norm statistics, moved ``--alpha``
of the way from the checkpoint's own towards them, under ``extra["narrowband_bn"]``. Weights
and the embedding head are unchanged. ``diarize export`` then writes the trunk folded with
these statistics into the sidecar, and the pipeline embeds telephone-band input with them
(``[embed] narrowband_statistics``).
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import torch

from benchmarks.crossdomain import telephone_at_16k as telephone
from diarize import audio as audio_io
from diarize.config import EmbedConfig
from diarize.embed import embed_chunked
from diarize.nn import Encoder as TorchEncoder
from diarize.nn import build_from_checkpoint, read_checkpoint, save_encoder
from diarize.train.data import list_sources

SR = 16000
WINDOW, STEP = int(1.5 * SR), int(0.25 * SR)


def trunk_norms(model) -> dict[str, torch.nn.BatchNorm1d]:
    """The batch-norm layers before pooling (the embedding head's own is left alone)."""
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.BatchNorm1d) and not name.startswith("head")
    }


def pick_files(sources: list[str], per_source: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for source in sources:
        files = list_sources([source])
        out += [files[i] for i in sorted(rng.permutation(len(files))[:per_source])]
    return out


def estimate(model, feature_config, files, log) -> dict[str, dict[str, np.ndarray]]:
    """Cumulative statistics of the trunk's batch-norm inputs over telephone-band windows."""
    encoder = TorchEncoder(model, feature_config)
    norms = trunk_norms(model)
    for bn in norms.values():
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over every batch
        bn.train()
    used = 0
    with torch.no_grad():
        for path in files:
            x = telephone(audio_io.load(path, SR))
            if len(x) < WINDOW:
                continue
            starts = np.arange(0, len(x) - WINDOW + 1, STEP)
            bounds = np.stack([starts, starts + WINDOW], axis=1)
            embed_chunked(x, bounds, encoder, EmbedConfig(), SR)
            used += 1
    for bn in norms.values():
        bn.eval()
    log(f"statistics from {used} recordings")
    return {
        name: {"running_mean": bn.running_mean.clone(), "running_var": bn.running_var.clone()}
        for name, bn in norms.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", nargs="+", required=True, help="folders or .lst files")
    parser.add_argument("--files", type=int, default=50, help="recordings per source")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        parser.error("--alpha must be within [0, 1]")
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    ckpt = read_checkpoint(args.checkpoint)
    model, feature_config = build_from_checkpoint(ckpt)
    own = {k: v.clone() for k, v in model.state_dict().items()}
    files = pick_files(args.data, args.files, args.seed)
    measured = estimate(model, feature_config, files, print)
    stats = {
        name: {
            key: (args.alpha * value + (1 - args.alpha) * own[f"{name}.{key}"]).float()
            for key, value in values.items()
        }
        for name, values in measured.items()
    }
    model.load_state_dict(own)  # the weights and statistics saved are the original ones
    extra = dict(ckpt.get("extra", {}))
    extra["narrowband_bn"] = {
        "stats": stats,
        "alpha": args.alpha,
        "recordings": len(files),
        "sources": [str(s) for s in args.data],
        "seed": args.seed,
        "channel": "300-3400 Hz, 8 kHz, G.711 mu-law, resampled to 16 kHz",
    }
    save_encoder(args.out, model, feature_config, ckpt.get("meta", {}), extra)
    info = {k: v for k, v in extra["narrowband_bn"].items() if k != "stats"}
    print(json.dumps({"out": args.out, "layers": sorted(stats), **info}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
