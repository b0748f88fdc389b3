"""A PLDA back end for telephone-band input, estimated on unlabeled recordings passed through the
telephone channel, stored in a checkpoint beside the wideband one.

Extras: `train`.

    python -m benchmarks.encoder.narrowband_plda models/encoder-v5.pt \
        --data ../shared/data/train/librispeech/librispeech_train-clean-100 \
        --out models/encoder-v5.pt
    diarize export models/encoder-v5.pt

The model's PLDA (``diarize fit-backend``) describes how windows of one voice and of different
voices spread at 16 kHz. Through a telephone band both spreads change (every voice loses what
lies above 3.4 kHz, and windows of different voices come closer), so VBx, which weighs each
window's evidence by that PLDA, reads telephone-band recordings with the wrong yardstick. This
repeats the back end's own steps on the same kind of unlabeled recordings, but passed through
the telephone channel of ``benchmarks.crossdomain`` (300-3400 Hz, 8 kHz, G.711 mu-law, back to
16 kHz as the pipeline reads it) and embedded as the pipeline embeds telephone-band input
(with the checkpoint's telephone-band batch-norm statistics, ``extra["narrowband_bn"]``):
speech detection, 1.5 s windows, each recording clustered on its own into pseudo-speakers
(no label is read), PLDA fitted on them. It is stored under ``extra["narrowband_plda"]``;
``[cluster] narrowband_plda`` makes the pipeline use it for telephone-band input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

import numpy as np
import torch

from benchmarks.crossdomain import telephone_at_16k
from diarize.backend import fit_plda, pseudo_speakers
from diarize.calibrate import CalibrationConfig, embed_recordings, list_audio
from diarize.nn import build_from_checkpoint, load_checkpoint, read_checkpoint, save_encoder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", nargs="+", required=True, help="folders or .lst files")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = CalibrationConfig()
    torch.manual_seed(config.seed)
    encoder = load_checkpoint(args.checkpoint)
    narrow = encoder.narrowband()
    if narrow is None:
        parser.error(f"{args.checkpoint} has no telephone-band statistics (narrowband_bn.py)")
    paths = list_audio(args.data)
    if not paths:
        parser.error("no audio files found in --data")
    per_recording = embed_recordings(narrow, paths, config, progress=True, channel=telephone_at_16k)
    emb, labels = pseudo_speakers(per_recording, config.pseudo_threshold, config.min_windows)
    if len(np.unique(labels)) < 2:
        parser.error("fewer than two pseudo-speakers found; give more recordings")
    plda = fit_plda(emb, labels, rank=config.plda_rank)
    ckpt = read_checkpoint(args.checkpoint)
    model, feature_config = build_from_checkpoint(ckpt)
    extra = dict(ckpt.get("extra", {}))
    summary = {
        "recordings": len(per_recording),
        "windows": int(sum(len(e) for e in per_recording)),
        "pseudo_speakers": int(len(np.unique(labels))),
        "pseudo_windows": int(len(labels)),
        "sources": [str(s) for s in args.data],
        "channel": "300-3400 Hz, 8 kHz, G.711 mu-law, resampled to 16 kHz",
        "config": {k: v for k, v in dataclasses.asdict(config).items() if k not in ("vad",)},
    }
    extra["narrowband_plda"] = {**plda.to_dict(), "record": summary}
    save_encoder(args.out, model, feature_config, ckpt.get("meta", {}), extra)
    print(json.dumps({"out": args.out, **summary}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
