"""Within-recording speaker discrimination on real meetings: EER on dev/ami.

Extras: `train` for `.pt` checkpoints.

The question diarization asks: are two stretches of *one* recording the same voice? Each
file's single-speaker stretches (reference RTTM, exactly one speaker active) are cut into
segments every half segment length; trials are all pairs of segments within a file (target:
same speaker; half-overlapping neighbours are among the target pairs). The set is small
(8 files at 1 s: about 3000 target / 500 non-target trials): read differences of a few
points as noise.
Speaker names serve evaluation only.

    python -m benchmarks.encoder.ami_eer CKPT... [--ami ../shared/data/dev/ami] [--length 1.5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from diarize import audio as audio_io
from diarize.baselines import MfccStatsEncoder
from diarize.eer import compute_eer
from diarize.encoder import load_encoder
from diarize.rttm import read_rttm

SR = 16000


def segments(ami: Path, length: float):
    """{uri: (waveforms (n, num_samples), speaker ids (n,))}."""
    out = {}
    n = int(round(length * SR))
    for uri in (ami / "all.lst").read_text().split():
        wav = audio_io.load(ami / "wav" / f"{uri}.wav", SR)
        turns = read_rttm(ami / "rttm" / f"{uri}.rttm")[uri].turns
        speakers = sorted({t.speaker for t in turns})
        active = np.zeros((len(speakers), len(wav)), dtype=bool)
        for t in turns:
            active[speakers.index(t.speaker), int(t.start * SR) : int(t.end * SR)] = True
        single = active.sum(0) == 1
        who = np.argmax(active, axis=0)
        pieces, labels = [], []
        edges = np.flatnonzero(np.diff(np.concatenate([[0], single.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            for s in range(a, b - n + 1, n // 2):
                if np.all(who[s : s + n] == who[s]):
                    pieces.append(wav[s : s + n])
                    labels.append(int(who[s]))
        if len(set(labels)) >= 2:
            out[uri] = (np.stack(pieces), np.asarray(labels))
    return out


def file_eer(model, segs) -> tuple[float, int, int]:
    scores, target = [], []
    for waveforms, labels in segs.values():
        if hasattr(model, "fit_segments"):
            model.fit_segments(waveforms)
        e = model.embed(waveforms)
        i, j = np.triu_indices(len(labels), k=1)
        scores.append(np.einsum("ij,ij->i", e[i], e[j]))
        target.append(labels[i] == labels[j])
    s, t = np.concatenate(scores), np.concatenate(target)
    return compute_eer(s, t)[0], int(t.sum()), int((~t).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoints", nargs="*")
    parser.add_argument("--ami", type=Path, default=Path("../shared/data/dev/ami"))
    parser.add_argument("--length", type=float, default=1.5)
    args = parser.parse_args()
    segs = segments(args.ami, args.length)
    models = {p: load_encoder(p) for p in args.checkpoints}
    models["MFCC statistics (standardised per file)"] = MfccStatsEncoder()
    print(f"| model | AMI within-file EER {args.length:g} s |\n|---|---|")
    for name, model in models.items():
        eer, num_tar, num_non = file_eer(model, segs)
        print(f"| {name} | {100 * eer:.1f} % |")
    print(f"\n{len(segs)} files, {num_tar} target / {num_non} non-target trials")


if __name__ == "__main__":
    main()
