"""Telephone audio stored at 16 kHz: does the result depend on the resampler that made the file?

Needs ../shared/data (the crossdomain benchmark's telephone domain); the FFmpeg rows need
PyAV (extra ``media``).

    python -m benchmarks.telephone_16k                 # writes benchmarks/reports/TELEPHONE-16K.md

Call-centre recordings are often 8-kHz calls kept as 16-kHz files. What lies above 4 kHz in
such a file is whatever the resampler that made it left there: a sharp one leaves nothing,
this package's own (a short windowed sinc, as torchaudio's) leaves the images of 3-4 kHz at
-40 dB, and the speech detector hears that band. For each seed's telephone domain of
``benchmarks.crossdomain`` (8 conversations through the telephone channel, stored at
8 kHz), the same files are written at 16 kHz by scipy's ``resample_poly`` and by FFmpeg's
resampler (PyAV), and each copy is diarized as stored (``[vad] narrowband_rate = 0``) and
with the speech detector hearing it through 8 kHz (``narrowband_rate = 8000``, the default,
which does so where the round trip adds the images a file stored at 8 kHz holds once read);
the 8-kHz files are the baseline. Copies are written once,
under ``scratch/telephone16k/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "reports" / "TELEPHONE-16K.md"
WORK = ROOT / "scratch" / "telephone16k"
SEEDS = (0, 202, 303, 404, 505)


def upsample_scipy(x: np.ndarray, rate: int) -> np.ndarray:
    """``x`` (float, at ``rate``) at 16 kHz by scipy's polyphase filter (Kaiser window)."""
    from scipy.signal import resample_poly

    return resample_poly(np.asarray(x, dtype=np.float64), 16000, rate)


def upsample_ffmpeg(x: np.ndarray, rate: int) -> np.ndarray:
    """``x`` at 16 kHz by FFmpeg's resampler (libswresample's defaults, through PyAV)."""
    import av

    frame = av.AudioFrame.from_ndarray(
        np.asarray(x, dtype=np.float32)[None, :], format="fltp", layout="mono"
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=16000)
    pieces = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(pieces)


RESAMPLERS = {"scipy resample_poly": upsample_scipy, "FFmpeg (PyAV)": upsample_ffmpeg}


def copy_at_16k(items: list, upsample, folder: Path) -> list:
    """``items`` written at 16 kHz by ``upsample`` into ``folder`` (once), as new items."""
    import soundfile as sf

    from diarize.audio import write_wav

    (folder / "wav").mkdir(parents=True, exist_ok=True)
    out = []
    for item in items:
        wav = folder / "wav" / item.wav.name
        if not wav.exists():
            x, rate = sf.read(str(item.wav), dtype="float64")
            y = np.clip(upsample(x, rate), -1.0, 1.0)
            write_wav(wav, y, 16000)
        out.append(der.Item(item.uri, wav, item.reference, item.uem, item.duration))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    log = der.log_stderr
    seeds = [int(s) for s in args.seeds.split(",") if s]
    for seed in seeds:
        if (problem := cd.seed_problem(seed)) is not None:
            parser.error(problem)
    from diarize.config import load_config, update_config
    from diarize.encoder import set_num_threads
    from diarize.pipeline import Pipeline

    set_num_threads(1)
    tic = time.perf_counter()
    resamplers = dict(RESAMPLERS)
    try:
        import av  # noqa: F401
    except ImportError:
        log("FFmpeg rows skipped: PyAV is not installed (extra media)")
        resamplers.pop("FFmpeg (PyAV)")
    default = Pipeline(load_config(None))
    as_stored = Pipeline(
        update_config(default.config, {"vad": {"narrowband_rate": 0}}), default.encoder
    )
    rows: dict[str, list[dict]] = {}

    def score(pipeline, items: list, name: str) -> None:
        rows.setdefault(name, []).append(der.run_set(pipeline, items, False, log, name).summary())

    for seed in seeds:
        found, _ = cd.domain_sets(["so762-8k"], log, seed)
        if "so762-8k" not in found:
            log("needs ../shared/data: the telephone domain's voices not found")
            return 1
        items = found["so762-8k"]
        log(f"[seed {seed}] {len(items)} files at 8 kHz")
        score(default, items, "stored at 8 kHz (the crossdomain domain)")
        for name, upsample in resamplers.items():
            tag = "scipy" if name.startswith("scipy") else "ffmpeg"
            copy = copy_at_16k(items, upsample, WORK / f"seed{seed}-{tag}")
            score(as_stored, copy, f"{name} to 16 kHz, as stored")
            score(default, copy, f"{name} to 16 kHz, heard through 8 kHz")
        log(
            f"[seed {seed}] " + ", ".join(f"{k}: {100 * v[-1]['der']:.1f}" for k, v in rows.items())
        )
    lines = der.report_header(
        "Telephone audio stored at 16 kHz",
        " ".join(["python -m benchmarks.telephone_16k", *(sys.argv[1:] if argv is None else argv)]),
    )
    lines += [
        der.run_time_line(time.perf_counter() - tic),
        "",
        "The telephone domain of `benchmarks.crossdomain` (seeds "
        + ", ".join(map(str, seeds))
        + "; 8 conversations of 2-6 held-out speechocean762 voices each, through 300-3400 Hz, "
        "8 kHz, G.711 mu-law) as stored, and the same files written at 16 kHz by other "
        "resamplers, diarized as stored (`[vad] narrowband_rate = 0`) and with the package "
        "defaults (`narrowband_rate = 8000`: heard through 8 kHz where the round trip adds "
        "images). DER (%) from pyannote.metrics, collar "
        "0, overlap scored, corpus DER per seed; miss / false alarm / confusion are the means "
        "over the seeds.",
        "",
        "| input | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | miss / FA / conf |",
        "|---|" + "---|" * (len(seeds) + 2),
    ]
    for name, cells in rows.items():
        parts = [
            np.mean([100 * c[k] for c in cells]) for k in ("missed", "false_alarm", "confusion")
        ]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{100 * c['der']:.1f}" for c in cells)
            + f" | **{np.mean([100 * c['der'] for c in cells]):.2f}** | "
            + " / ".join(f"{p:.1f}" for p in parts)
            + " |"
        )
    return der.write_report(args.out, lines)


if __name__ == "__main__":
    sys.exit(main())
