"""Effect of per-recording adaptation (diarize.adapt) on within-file speaker discrimination
on dev/ami (the trials of benchmarks.encoder.ami_eer). Speech regions come from the default
VAD, as in the pipeline.

Extras: `train`.

    python -m benchmarks.encoder.adapt_ami CKPT [--length 1.0] [--steps 0,15,30,50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.encoder.ami_eer import segments
from diarize import audio as audio_io
from diarize.adapt import adapt_encoder
from diarize.config import VADConfig
from diarize.eer import compute_eer
from diarize.encoder import load_encoder
from diarize.vad import detect_speech


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("--ami", type=Path, default=Path("../shared/data/dev/ami"))
    parser.add_argument("--length", type=float, default=1.0)
    parser.add_argument("--steps", default="0,15,30,50")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    segs = segments(args.ami, args.length)
    base = load_encoder(args.checkpoint)
    print(f"| adaptation steps | AMI within-file EER {args.length:g} s | seconds per 30 s file |")
    print("|---|---|---|")
    for steps in (int(s) for s in args.steps.split(",")):
        scores, target, seconds = [], [], 0.0
        for uri, (waveforms, labels) in segs.items():
            wav = audio_io.load(args.ami / "wav" / f"{uri}.wav", 16000)
            regions = detect_speech(wav, VADConfig(), 16000)
            t0 = time.perf_counter()
            enc = adapt_encoder(base, wav, regions, steps=steps, seed=0)
            seconds += time.perf_counter() - t0
            e = enc.embed(waveforms)
            i, j = np.triu_indices(len(labels), k=1)
            scores.append(np.einsum("ij,ij->i", e[i], e[j]))
            target.append(labels[i] == labels[j])
        eer = compute_eer(np.concatenate(scores), np.concatenate(target))[0]
        print(f"| {steps} | {100 * eer:.1f} % | {seconds / len(segs):.1f} |")


if __name__ == "__main__":
    main()
