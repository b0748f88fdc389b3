"""Does diarizing one long file cost accuracy? The simulated set, file by file and concatenated.

Extras: `score` (pyannote.metrics).

    python -m benchmarks.long_der            # writes benchmarks/reports/LONG.md
    python -m benchmarks.long_der --seed 2   # another set: writes scratch/bench/LONG-s2.md

The 15 simulated conversations of ``benchmarks.der`` (``diarize simulate``, seed 0, ~37 min in
all) are diarized one by one with the shipped pipeline, then concatenated into one recording
and diarized again. Both are scored with pyannote.metrics (corpus DER, collar 0, overlap
scored; and collar 0.5 = 0.25 s each side, overlap skipped) against the same speech.

The conversations draw their talkers from a small pool, so one person speaks in several of
them (in other rooms, at other noise levels). The long file is therefore scored twice:

* ``true identities``: a talker is one speaker wherever they speak (the honest reference for
  the long file; it also asks the system to recognise a voice across rooms);
* ``per conversation``: each conversation's talkers are distinct speakers. A system that
  recognises a talker across conversations is penalised here, so this row is a bound on
  how much the long file merges, not a measure of the long-file path.

A third row cuts the long file's output at the conversation boundaries and scores each
piece against its own conversation, exactly as the file-by-file run is scored: the same
task (who spoke when within each conversation), done by the long-file path. The difference
between it and ``true identities`` is what recognising talkers across rooms costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.der import (
    CACHE,
    DATA,
    ensure_simulated,
    git_state,
    load_set,
    machine,
    write_report,
)
from diarize.scoring import score_corpus
from diarize.types import Diarization, Turn

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "reports" / "LONG.md"


def corpus_cells(pairs, collar: float, skip_overlap: bool) -> str:
    """DER | missed | false alarm | confusion (% of reference speech), corpus totals of
    (reference, hypothesis, uem) triples, as ``diarize score`` adds them up."""
    score = score_corpus(
        {r.uri: r for r, _, _ in pairs},
        {h.uri: h for _, h, _ in pairs},
        {r.uri: u for r, _, u in pairs},
        collar,
        skip_overlap,
    ).total
    t = max(score.total, 1e-9)
    der = (score.missed + score.false_alarm + score.confusion) / t
    return (
        f"**{100 * der:.1f}** | {100 * score.missed / t:.1f} | "
        f"{100 * score.false_alarm / t:.1f} | {100 * score.confusion / t:.1f}"
    )


def cut(hyp: Diarization, start: float, end: float, uri: str) -> Diarization:
    """The part of ``hyp`` in [start, end), shifted to start at 0 and named ``uri``."""
    turns = tuple(
        Turn(max(t.start, start) - start, min(t.end, end) - start, t.speaker)
        for t in hyp.turns
        if t.end > start and t.start < end
    )
    return Diarization(uri, turns, end - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report path (default: benchmarks/reports/LONG.md; scratch/bench/LONG-s<seed>.md "
        "for another seed)",
    )
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: shipped)")
    parser.add_argument("--config", default=None, help="pipeline TOML (default: defaults)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the simulated set (default 0: the set of benchmarks.der)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = OUT if args.seed == 0 else CACHE / f"LONG-s{args.seed}.md"

    from diarize.config import load_config
    from diarize.pipeline import Pipeline
    from diarize.simulate import SimulationConfig

    if not (DATA / "train").is_dir():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    simulation = SimulationConfig(seed=args.seed)
    folder = ensure_simulated("sim", simulation, lambda m: print(m, file=sys.stderr))
    if folder is None:
        return 0
    items = load_set(folder)
    pipeline = Pipeline(load_config(args.config), model=args.model)

    short, t0 = [], time.perf_counter()
    for item in items:
        short.append((item.reference, pipeline(item.wav), item.uem))
        print(f"  {item.uri}: {short[-1][1].num_speakers} speakers", file=sys.stderr)
    short_wall = time.perf_counter() - t0

    # One long recording: the conversations back to back, references shifted to match.
    long_wav = CACHE / ("sim-concat.wav" if args.seed == 0 else f"sim-s{args.seed}-concat.wav")
    offset, true_turns, conv_turns, uem, spans = 0.0, [], [], [], []
    with sf.SoundFile(str(long_wav), "w", 16000, 1, "PCM_16") as out:
        for item in items:
            audio, sr = sf.read(str(item.wav), dtype="float32")
            assert sr == 16000 and audio.ndim == 1
            out.write(audio)
            for t in item.reference.turns:
                true_turns.append(Turn(t.start + offset, t.end + offset, t.speaker))
                conv_turns.append(Turn(t.start + offset, t.end + offset, f"{item.uri}/{t.speaker}"))
            uem += [(a + offset, b + offset) for a, b in item.uem]
            spans.append((offset, offset + len(audio) / sr))
            offset += len(audio) / sr
    uri = long_wav.stem
    true_ref = Diarization(uri, tuple(sorted(true_turns, key=lambda t: t.start)), offset)
    conv_ref = Diarization(uri, tuple(sorted(conv_turns, key=lambda t: t.start)), offset)
    t0 = time.perf_counter()
    long_hyp = pipeline(long_wav)
    long_wall = time.perf_counter() - t0

    pieces = [
        (ref, cut(long_hyp, a, b, ref.uri), u)
        for (ref, _, u), (a, b) in zip(short, spans, strict=True)
    ]
    runs = [
        ("file by file", short),
        ("long file, cut at the conversation boundaries", pieces),
        ("long file, true identities", [(true_ref, long_hyp, uem)]),
        ("long file, per-conversation speakers", [(conv_ref, long_hyp, uem)]),
    ]
    rows = [
        (name, collar, corpus_cells(pairs, collar, skip))
        for collar, skip in ((0.0, False), (0.5, True))
        for name, pairs in runs
    ]
    ref_speakers = len({t.speaker for t in true_turns})
    per_file = sum(r.num_speakers for r, _, _ in short)
    found = sum(h.num_speakers for _, h, _ in short)
    lines = [
        "# One long file vs the same conversations file by file",
        "",
        f"`{' '.join(['python -m benchmarks.long_der', *(argv or sys.argv[1:])])}`, "
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {machine()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end; {git_state()}.",
        "",
        f"{len(items)} simulated conversations (`{folder.relative_to(ROOT)}`), "
        f"{offset / 60:.1f} min in all. File by file: {per_file} speakers in the references "
        f"(summed over files), {found} found, {short_wall:.0f} s wall. Concatenated: "
        f"{ref_speakers} distinct talkers, {long_hyp.num_speakers} found, {long_wall:.0f} s wall.",
        "",
        f"Pipeline configuration: {args.config or 'defaults'}; model: "
        f"{args.model or 'shipped'}. Corpus totals from pyannote.metrics, % of reference speech:",
        "",
        "| run | collar | DER | missed | false alarm | confusion |",
        "|---|---|---|---|---|---|",
    ]
    for name, collar, cells in rows:
        scoring = "0, overlap scored" if collar == 0 else "0.5 (0.25 s each side), overlap skipped"
        lines.append(f"| {name} | {scoring} | {cells} |")
    return write_report(args.out, lines)


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
