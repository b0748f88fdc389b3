"""Speech and overlap detection of the speaker-count model on dev/ami.

    python -m benchmarks.segmentation [--model models/segmentation-v1.pt]

Frame-level (10 ms) scores inside the UEM, against the reference RTTM: speech detection
miss / false alarm (as shares of reference speech), and overlap detection precision /
recall, for a range of thresholds. Needs ../shared/data; skips cleanly without it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "dev" / "ami"


def reference_counts(rttm: Path, uem: Path, num_frames: int, hop: float, offset: float):
    """(num_frames,) speaker count per frame centre, and (num_frames,) bool inside UEM."""
    from diarize.rttm import read_rttm, read_uem

    centres = offset + np.arange(num_frames) * hop
    count = np.zeros(num_frames, dtype=np.int64)
    for d in read_rttm(rttm).values():
        for t in d.turns:
            count += (centres >= t.start) & (centres < t.end)
    scored = np.zeros(num_frames, dtype=bool)
    for segs in read_uem(uem).values():
        for s, e in segs:
            scored |= (centres >= s) & (centres < e)
    return count, scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        sys.exit(0)
    from diarize import audio
    from diarize.segmentation import load_segmentation

    counter = load_segmentation(args.model)
    hop = counter.frame_shift
    offset = counter.fbank.win_samples / 2 / counter.sample_rate
    probs, refs, scored = [], [], []
    for wav in sorted((DATA / "wav").glob("*.wav")):
        x = audio.load(wav)
        p = counter.probabilities(x)
        c, s = reference_counts(
            DATA / "rttm" / f"{wav.stem}.rttm",
            DATA / "uem" / f"{wav.stem}.uem",
            len(p),
            hop,
            offset,
        )
        probs.append(p)
        refs.append(c)
        scored.append(s)
    p = np.concatenate(probs)
    c = np.concatenate(refs)
    s = np.concatenate(scored)
    p, c = p[s], c[s]
    speech = c >= 1
    print(f"frames {len(c)}, speech {speech.mean():.3f}, overlap {(c >= 2).mean():.3f}")
    print("speech threshold on P(count>=1): miss% fa% (of reference speech)")
    for thr in (0.3, 0.4, 0.5, 0.6, 0.7):
        hyp = (p[:, 1] + p[:, 2]) > thr
        miss = np.sum(speech & ~hyp) / speech.sum()
        fa = np.sum(~speech & hyp) / speech.sum()
        print(
            f"  {thr:.1f}: miss {100 * miss:5.1f}  fa {100 * fa:5.1f}  sum {100 * (miss + fa):5.1f}"
        )
    print("overlap threshold on P(count>=2): precision recall")
    ov = c >= 2
    for thr in (0.2, 0.3, 0.4, 0.5, 0.6):
        hyp = p[:, 2] > thr
        prec = np.sum(hyp & ov) / max(hyp.sum(), 1)
        rec = np.sum(hyp & ov) / max(ov.sum(), 1)
        print(f"  {thr:.1f}: precision {100 * prec:5.1f}  recall {100 * rec:5.1f}")


if __name__ == "__main__":
    main()
