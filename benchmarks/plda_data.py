"""Which unlabeled recordings the PLDA back end is estimated on, across domains.

Extras: `train`. Needs ../shared/data.

    python -m benchmarks.plda_data                 # -> benchmarks/reports/PLDA-DATA.md
    python -m benchmarks.plda_data --sets ls,ls+pv --out report.md

The shipped back end's PLDA (``models/encoder-v5.pt``) is estimated on LibriSpeech
train-clean-100 alone: each recording is clustered on its own and its large clusters become
pseudo-speakers (``diarize.calibrate``). This re-estimates that PLDA, with the same steps and
settings, on other sets of training recordings: ``ls`` (LibriSpeech: the shipped one, a
control), ``so`` (the speechocean762 training speakers of ``runs/so762/train.lst``, made by
``benchmarks.encoder.heldout_split``) and ``pv`` (Picovoice), joined with ``+``. Everything
else in the checkpoint (weights, stopping thresholds, telephone-band statistics) stays as
shipped. Each checkpoint is exported to ONNX and diarizes the domains of
``benchmarks.crossdomain`` with the package defaults (VBx, which scores with the PLDA) and
with the true count (AHC on PLDA scores).

speechocean762 holds about 13 recordings per voice and Picovoice many per voice, so there one
voice becomes many pseudo-speakers: the between-speaker spread is under-estimated. That is
the cost of reading no label.

DER from pyannote.metrics (``diarize.scoring``), collar 0 with overlap scored, corpus totals
per domain; the mean weighs the four domains equally.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der

REPORT = der.ROOT / "benchmarks" / "reports" / "PLDA-DATA.md"
DOMAINS = ("ami", "so762", "so762-8k", "testother")
SHARED = der.ROOT.parent / "shared" / "data" / "train"
SOURCES = {
    "ls": SHARED / "librispeech" / "librispeech_train-clean-100",
    "so": der.ROOT / "runs" / "so762" / "train.lst",
    "pv": SHARED / "picovoice-s2i",
}
VARIANTS = ("shipped", "oracle-count")


def refit(enc, per_recording: list[np.ndarray], out: Path) -> dict:
    """The torch encoder ``enc`` with its PLDA re-estimated on ``per_recording`` (window
    embeddings of each recording), written to ``out``; returns the pseudo-speaker counts."""
    from diarize.backend import fit_plda, pseudo_speakers
    from diarize.calibrate import CalibrationConfig
    from diarize.nn import save_encoder

    cfg = CalibrationConfig()
    emb, labels = pseudo_speakers(per_recording, cfg.pseudo_threshold, cfg.min_windows)
    plda = fit_plda(emb, labels, rank=cfg.plda_rank)
    extra = {**enc.extra, "plda": plda.to_dict()}
    meta = {k: v for k, v in enc.meta.items() if k != "path"}
    save_encoder(out, enc.model, enc.feature_config, meta, extra)
    return {"pseudo_speakers": int(len(np.unique(labels))), "windows": int(len(labels))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(der.ROOT / "models" / "encoder-v5.pt"))
    parser.add_argument("--sets", default="ls,ls+so,ls+pv,ls+so+pv")
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    log = der.log_stderr
    sets = [s for s in args.sets.split(",") if s]
    wanted = sorted({k for s in sets for k in s.split("+")})
    unknown = [k for k in wanted if k not in SOURCES]
    if unknown:
        parser.error(f"unknown source(s) {', '.join(unknown)} (known: {', '.join(SOURCES)})")
    missing = [str(SOURCES[k]) for k in wanted if not SOURCES[k].exists()]
    if missing:
        log(f"missing: {', '.join(missing)}")
        return 1
    import torch

    torch.set_num_threads(1)
    from diarize.calibrate import CalibrationConfig, embed_recordings, list_audio
    from diarize.config import load_config
    from diarize.encoder import load_encoder
    from diarize.export import export
    from diarize.nn import load_checkpoint
    from diarize.pipeline import Pipeline

    tic = time.perf_counter()
    cmd = " ".join(["python -m benchmarks.plda_data", *(argv or sys.argv[1:])])
    header = der.report_header("PLDA back end estimated on other recordings", cmd)
    domains, _ = cd.domain_sets(list(DOMAINS), log)
    if list(domains) != list(DOMAINS):
        log("a domain's data is missing")
        return 1
    encoder = load_checkpoint(args.model)
    embedded = {}
    for k in wanted:
        log(f"[{k}] embedding {SOURCES[k]}")
        paths = list_audio([SOURCES[k]])
        embedded[k] = (len(paths), embed_recordings(encoder, paths, CalibrationConfig()))
    base = load_config(None)
    variants = {v.name: v for v in cd.VARIANTS}
    rows: dict[str, dict[str, dict]] = {}
    counts = {}
    with tempfile.TemporaryDirectory() as work, der.memoized_vad():
        for s in sets:
            per = [e for k in s.split("+") for e in embedded[k][1]]
            ckpt = Path(work) / f"{s.replace('+', '-')}.pt"
            counts[s] = refit(encoder, per, ckpt)
            export(ckpt)
            enc = load_encoder(ckpt.with_suffix(".onnx"))
            for name in VARIANTS:
                v = variants[name]
                config = der.build_config(v, None, base)
                pipeline = Pipeline(config, encoder=enc)
                for domain, items in domains.items():
                    log(f"[{s}] {domain} {name}")
                    scores = der.run_set(pipeline, items, v.oracle, log, name)
                    rows.setdefault(f"{s}, {name}", {})[domain] = scores.summary()
    elapsed = time.perf_counter() - tic
    lines = header + [
        der.run_time_line(elapsed),
        f"- encoder: `{Path(args.model).name}`, its PLDA re-estimated per row",
        "",
        __doc__.split("\n\n", 3)[3].strip(),
        "",
        "Recordings and pseudo-speakers:",
        "",
        "| PLDA estimated on | recordings | pseudo-speakers | windows |",
        "|---|---|---|---|",
    ]
    for s in sets:
        n = sum(embedded[k][0] for k in s.split("+"))
        lines.append(f"| {s} | {n} | {counts[s]['pseudo_speakers']} | {counts[s]['windows']} |")
    lines += [
        "",
        "DER (%), collar 0: `shipped` = the package defaults, `oracle-count` = the true count",
        "",
        *cd.summary_table(list(DOMAINS), rows),
        "",
    ]
    log(f"writing {args.out} ({elapsed / 60:.1f} min)")
    return der.write_report(Path(args.out), lines)


if __name__ == "__main__":
    sys.exit(main())
