"""Settings of one config section across several draws of the cross-domain benchmark.

Needs ../shared/data.

    python -m benchmarks.draws                     # -> benchmarks/reports/DRAWS-VBX.md
    python -m benchmarks.draws --seeds 0,202 --section vad --settings '[{"pad": 0.1}]' \\
        --out report.md

One draw of ``benchmarks.crossdomain`` holds 8 simulated conversations per domain, and a
second draw of the same voices can move a domain's DER by 5 to 18 points (its ``--seed``;
CROSSDOMAIN-seed202.md). Here every setting is scored on dev/ami (the same 12 real files at
every seed) and on the simulated domains of each draw in ``--seeds``; a domain's figure is the
mean of its draws' corpus DERs, and the mean weighs the four domains equally. The front half
of the pipeline (speech detection, embeddings) runs once per file, so settings of the
``cluster`` section (the default) or of anything after it cost little each; a setting of the
``vad``, ``embed`` or ``adapt`` section, or the overlap detector's ``model``, which the front
half reads, gets a front half of its own (speech probabilities are still computed once per
file). The first row is always the package defaults (with ``--model``, every row runs that encoder
checkpoint instead of the shipped one); ``--encoder NAME=PATH`` adds a row of the package
defaults with another checkpoint (its own front half). Each row after the first is also set
against the first file by file: its difference on the same files, with a bootstrap interval
over the files (:func:`paired_differences`).

With ``--excerpt SECONDS`` the simulated conversations (and the tuning set) are cut into
consecutive excerpts of that length, scored each as a recording of its own (written once
beside their files, references cropped): dev/ami's excerpts are 30 s, the simulated files
about 2 minutes, and a short recording gives the speaker count less to go on.

DER from pyannote.metrics (``diarize.scoring``), collar 0 with overlap scored; in brackets
the files given one speaker (or none) of those holding two or more, summed over the draws.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der

REPORT = der.ROOT / "benchmarks" / "reports" / "DRAWS-VBX.md"
SIMULATED = ("so762", "so762-8k", "testother")
DOMAINS = ("ami", *SIMULATED)
SEEDS = (0, 202, 303, 404, 505)
#: the cross-domain tuning set's key in draw_sets (a column beside the domains, not in the
#: mean), and the same files through the telephone channel (where telephone-band rules are
#: chosen)
TUNING = "tuning"
TUNING_8K = "tuning-8k"
TUNINGS = (TUNING, TUNING_8K)
#: sections read by the front half (``Pipeline.analyse``): their settings are re-analysed
#: (``adapt``: the encoder is fine-tuned on each recording before its windows are embedded)
FRONT_SECTIONS = ("vad", "embed", "adapt")
#: single options of later sections that the front half reads too (the overlap detector's
#: network runs there)
FRONT_KEYS = {("overlap", "model")}
#: the neighbourhood of the VBx defaults (Fa 0.5, Fb 6, start 0.1 above the scaled rule,
#: loop 0.9), one or two parameters at a time
VBX_SETTINGS = [
    {"vbx_fb": 4.0},
    {"vbx_fb": 5.0},
    {"vbx_fb": 7.0},
    {"vbx_fb": 8.0},
    {"vbx_fb": 10.0},
    {"vbx_fa": 0.3},
    {"vbx_fa": 0.7},
    {"vbx_fa": 0.3, "vbx_fb": 5.0},
    {"vbx_fa": 0.7, "vbx_fb": 10.0},
    {"vbx_init": 0.0},
    {"vbx_init": 0.2},
    {"vbx_loop": 0.99},
]


def draw_sets(seeds, log, tuning: bool = False) -> dict[tuple[str, int], list]:
    """(domain, seed) -> items; dev/ami once, under the first seed; with ``tuning``, the
    cross-domain tuning set as (``TUNING``, its seed) and the same files through the
    telephone channel as (``TUNING_8K``, its seed)."""
    sets: dict[tuple[str, int], list] = {}
    if tuning:
        items = cd.tuning_items(log)
        if not items:
            raise der.Unavailable("needs ../shared/data: the tuning set's voices not found")
        sets[(TUNING, cd.SEED_TUNING)] = items
        sets[(TUNING_8K, cd.SEED_TUNING)] = cd.telephone_tuning_items(log)
    for i, seed in enumerate(seeds):
        wanted = list(DOMAINS) if i == 0 else list(SIMULATED)
        found, _ = cd.domain_sets(wanted, log, seed)
        missing = [d for d in wanted if d not in found]
        if missing:
            raise der.Unavailable(f"needs ../shared/data: {', '.join(missing)} not found")
        for domain, items in found.items():
            sets[(domain, seed)] = items
    return sets


def excerpts(items: list, seconds: float) -> list:
    """``items`` cut into consecutive excerpts of ``seconds`` (the tail shorter than that
    dropped), each a recording of its own with its cropped reference; written once, as 16-bit
    WAV with RTTM and UEM, in a folder beside the items' own (``<folder>-cut<seconds>``)."""
    import soundfile as sf

    from diarize.audio import write_wav
    from diarize.rttm import format_rttm, write_atomic
    from diarize.types import Diarization, Turn

    out = []
    for item in items:
        folder = item.wav.parent.parent
        dest = folder.with_name(f"{folder.name}-cut{seconds:g}")
        for sub in ("wav", "rttm", "uem"):
            (dest / sub).mkdir(parents=True, exist_ok=True)
        audio = None
        for k in range(int(item.duration // seconds)):
            uri = f"{item.uri}-{k:02d}"
            start, end = k * seconds, (k + 1) * seconds
            wav = dest / "wav" / f"{uri}.wav"
            turns = tuple(
                Turn(max(t.start, start) - start, min(t.end, end) - start, t.speaker)
                for t in item.reference.turns
                if min(t.end, end) > max(t.start, start)
            )
            reference = Diarization(uri, turns, seconds)
            if not wav.exists():
                if audio is None:
                    audio, rate = sf.read(str(item.wav), dtype="int16")
                piece = audio[int(round(start * rate)) : int(round(end * rate))]
                write_atomic(dest / "rttm" / f"{uri}.rttm", format_rttm(reference))
                write_atomic(dest / "uem" / f"{uri}.uem", f"{uri} 1 0.000 {seconds:.3f}\n")
                write_wav(wav, piece, rate)
            out.append(der.Item(uri, wav, reference, [(0.0, seconds)], seconds))
    return out


def summarise(cells: dict[tuple[str, int], dict]) -> dict[str, dict]:
    """Per domain: the mean DER over its draws and the one-speaker files summed."""
    out = {}
    for domain in (*DOMAINS, *TUNINGS):
        mine = [c for (d, _), c in cells.items() if d == domain]
        if not mine:
            continue
        out[domain] = {
            "der": float(np.mean([c["der"] for c in mine])),
            "single": sum(c["single"] for c in mine),
            "multi": sum(c["multi"] for c in mine),
        }
    return out


def paired_differences(
    base: dict[tuple[str, int], dict],
    cells: dict[tuple[str, int], dict],
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Per domain (and ``"mean"``, the four domains weighed equally): ``resamples``
    bootstrap replicates of a setting's DER minus the defaults' on the same files. Each
    replicate draws every (domain, draw) cell's files with replacement, the same files for
    both; a domain's difference is the mean over its draws of the difference of the corpus
    DERs, as the table's figures are. The first replicate is the files as they are."""
    rng = np.random.default_rng(seed)
    by_domain: dict[str, list[np.ndarray]] = {}
    for key, cell in cells.items():
        if key[0] not in DOMAINS:
            continue
        mine = np.asarray(cell["per_file"], dtype=float)  # (files, 2): error, scored
        theirs = np.asarray(base[key]["per_file"], dtype=float)
        n = len(mine)
        pick = np.concatenate(
            [np.arange(n)[None], rng.integers(0, n, size=(resamples - 1, n))]
        )  # (resamples, files)
        scored = np.maximum(mine[pick, 1].sum(axis=1), 1e-9)
        diff = (mine[pick, 0].sum(axis=1) - theirs[pick, 0].sum(axis=1)) / scored
        by_domain.setdefault(key[0], []).append(diff)
    out = {d: np.mean(v, axis=0) for d, v in by_domain.items()}
    if all(d in out for d in DOMAINS):
        out["mean"] = np.mean([out[d] for d in DOMAINS], axis=0)
    return out


def difference_cell(replicates: np.ndarray) -> str:
    """'+1.2 (-0.3, +2.6)': the difference in DER points and its 95 % interval, bold when
    the interval holds no zero."""
    point = 100 * replicates[0]
    lo, hi = 100 * np.percentile(replicates, [2.5, 97.5])
    text = f"{point:+.1f} ({lo:+.1f}, {hi:+.1f})"
    return f"**{text}**" if lo > 0 or hi < 0 else text


def needs_analysis(section: str, setting: dict) -> bool:
    """Whether ``setting`` of ``section`` changes what the front half finds."""
    return bool(setting) and (
        section in FRONT_SECTIONS or any((section, key) in FRONT_KEYS for key in setting)
    )


def label(setting: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in setting.items()) or "package defaults"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--section", default="cluster", help="config section the settings change")
    parser.add_argument(
        "--settings", default=None, help="JSON list of settings (default: VBx's neighbourhood)"
    )
    parser.add_argument("--out", default=None, help=f"markdown report (default {REPORT})")
    parser.add_argument(
        "--model", default=None, help="encoder checkpoint every row runs (default: shipped)"
    )
    parser.add_argument(
        "--encoder",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="one more row: the package defaults with this encoder checkpoint (repeatable)",
    )
    parser.add_argument(
        "--tuning",
        action="store_true",
        help="also score each setting on the cross-domain tuning set, as it is and through "
        "the telephone channel (columns of their own, not in the mean)",
    )
    parser.add_argument(
        "--excerpt",
        type=float,
        default=None,
        metavar="SECONDS",
        help="score the simulated conversations and the tuning set cut into excerpts of this "
        "length (dev/ami as it is: 30-s excerpts already)",
    )
    args = parser.parse_args(argv)
    if args.excerpt is not None and not args.excerpt >= 5:
        parser.error("--excerpt takes at least 5 seconds")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        parser.error("--seeds takes comma-separated integers")
    if not seeds or len(set(seeds)) != len(seeds):
        parser.error("--seeds takes distinct integers")
    for seed in seeds:
        if (problem := cd.seed_problem(seed)) is not None:
            parser.error(problem)
    encoders = [tuple(e.split("=", 1)) for e in args.encoder]
    if any(len(e) != 2 or not all(e) for e in encoders):
        parser.error("--encoder takes NAME=PATH")
    settings = VBX_SETTINGS if args.settings is None else json.loads(args.settings)
    if not isinstance(settings, list) or not all(isinstance(s, dict) for s in settings):
        parser.error("--settings takes a JSON list of objects")
    log = der.log_stderr
    try:
        import torch
    except ImportError:  # the lean install: the pipeline runs on ONNX Runtime alone
        pass
    else:
        torch.set_num_threads(1)
    from benchmarks.vbx import analyse_sets, score
    from diarize.config import load_config, update_config
    from diarize.pipeline import Pipeline

    tic = time.perf_counter()
    cmd = " ".join(["python -m benchmarks.draws", *(argv if argv is not None else sys.argv[1:])])
    header = der.report_header(f"Settings of [{args.section}] over several draws", cmd)
    try:
        sets = draw_sets(seeds, log, args.tuning)
    except der.Unavailable as exc:
        log(str(exc))
        return 1
    if args.excerpt is not None:
        sets = {
            key: items if key[0] == "ami" else excerpts(items, args.excerpt)
            for key, items in sets.items()
        }
    defaults = Pipeline(load_config(None), model=args.model)
    analyses = analyse_sets(defaults, sets, log)
    rows = []

    def add_row(name: str, cells: dict) -> None:
        rows.append((name, cells, summarise(cells)))
        log(f"{name}: " + " ".join(f"{100 * c['der']:.1f}" for c in rows[-1][2].values()))

    for setting in [{}, *settings]:
        pipeline, analysed = defaults, analyses
        if needs_analysis(args.section, setting):
            pipeline = Pipeline(
                update_config(defaults.config, {args.section: setting}), defaults.encoder
            )
            analysed = analyse_sets(pipeline, sets, log)
        cells = {
            key: score(pipeline, analysed[key], items, setting, section=args.section)
            for key, items in sets.items()
        }
        add_row(label(setting), cells)
    for name, path in encoders:
        pipeline = Pipeline(defaults.config, model=path)
        analysed = analyse_sets(pipeline, sets, log)
        cells = {key: score(pipeline, analysed[key], items, {}) for key, items in sets.items()}
        add_row(f"encoder {name}", cells)
    base = rows[0][2]
    lines = header + [
        der.run_time_line(time.perf_counter() - tic),
        f"- draws: seeds {', '.join(map(str, seeds))} of `benchmarks.crossdomain` "
        "(dev/ami: the same 12 files at every seed)"
        + (
            ""
            if args.excerpt is None
            else f"; the simulated files cut into {args.excerpt:g}-s excerpts, "
            f"{sum(len(v) for k, v in sets.items() if k[0] in SIMULATED)} in all"
        ),
        "",
        "DER (%) from pyannote.metrics, collar 0 with overlap scored; each simulated domain's "
        "figure is the mean of its draws' corpus DERs, the mean weighs the four domains "
        "equally; in brackets the files given one speaker (or none) of those holding two or "
        "more, over all draws. A setting that is lower than the defaults on every domain is "
        "marked *lower everywhere*.",
        "",
        f"## Averaged over {len(seeds)} draws",
        "",
        "| setting | "
        + " | ".join(DOMAINS)
        + " | mean | |"
        + (" tuning set | tuning set, 8 kHz |" * args.tuning),
        "|---|" + "---|" * (len(DOMAINS) + 2 + 2 * args.tuning),
    ]
    for i, (name, _, summary) in enumerate(rows):
        mean = np.mean([summary[d]["der"] for d in DOMAINS])
        wins = i > 0 and all(summary[d]["der"] < base[d]["der"] for d in DOMAINS)
        lines.append(
            f"| {name} | "
            + " | ".join(
                f"{100 * summary[d]['der']:.1f} ({summary[d]['single']}/{summary[d]['multi']})"
                for d in DOMAINS
            )
            + f" | **{100 * mean:.2f}** | {'*lower everywhere*' if wins else ''} |"
            + "".join(f" {100 * summary[t]['der']:.2f} |" for t in TUNINGS if t in summary)
        )
    if len(rows) > 1:
        base_cells = rows[0][1]
        lines += [
            "",
            "## Against the defaults, file by file",
            "",
            "DER points above the defaults (negative: lower) and, in brackets, a 95 % "
            "interval from 2,000 bootstrap resamplings of the files, the same files for both "
            "rows (within each draw of a simulated domain; dev/ami's 12 files once). In bold "
            "where the interval holds no zero. It measures how much the figures move with "
            "which files were drawn, not with the draw of voices.",
            "",
            "| setting | " + " | ".join(DOMAINS) + " | mean |",
            "|---|" + "---|" * (len(DOMAINS) + 1),
        ]
        for name, cells, _ in rows[1:]:
            diffs = paired_differences(base_cells, cells)
            lines.append(
                f"| {name} | "
                + " | ".join(difference_cell(diffs[d]) for d in (*DOMAINS, "mean"))
                + " |"
            )
    lines += [
        "",
        "## Each draw (DER %)",
        "",
        "| setting | " + " | ".join(f"{d} {s}" for d, s in sets if d in SIMULATED) + " |",
        "|---|" + "---|" * sum(d in SIMULATED for d, _ in sets),
    ]
    for name, cells, _ in rows:
        lines.append(
            f"| {name} | "
            + " | ".join(f"{100 * c['der']:.1f}" for (d, _), c in cells.items() if d in SIMULATED)
            + " |"
        )
    return der.write_report(Path(args.out) if args.out else REPORT, lines)


if __name__ == "__main__":
    raise SystemExit(main())
