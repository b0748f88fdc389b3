"""VBx speaker counting (``--count vbx``) across domains: its settings chosen on the tuning set.

    python -m benchmarks.vbx                       # -> benchmarks/reports/VBX.md
    python -m benchmarks.vbx --model other.onnx --out report.md

The front half of the pipeline (speech regions, window embeddings, MFCC frames) runs once per
file of ``benchmarks.crossdomain``'s domains and of its tuning set; the back half (clustering,
both resegmentation passes) then runs once per setting. VBx's settings (the AHC start above
the stopping threshold ``vbx_init``, the loop probability, Fa and Fb) are swept on the tuning
set alone (every grid point started from AHC at the learned threshold), and the setting with
the lowest tuning-set DER is reported on every domain next to the learned-threshold rule, the
same grid point started from the scaled rule's threshold, and the package defaults (for
encoder-v5 these are that pick, started from the scaled rule: the better of the two on the
tuning set). A last table compares, for telephone-band input, the default count with the
rules it could switch to, on the tuning set passed through the telephone channel of the
so762-8k domain (``crossdomain.telephone_tuning_items``) and on that domain.

Every figure is DER from pyannote.metrics (``diarize.scoring``), collar 0 with overlap
scored, corpus totals per domain; the mean weighs the four domains equally.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der

REPORT = der.ROOT / "benchmarks" / "reports" / "VBX.md"
DOMAINS = ("ami", "so762", "so762-8k", "testother")
INITS = (0.1, 0.2)
LOOPS = (0.9, 0.99)
FAS = (0.2, 0.3, 0.5)
FBS = (3.0, 4.0, 5.0, 8.0)


def grid() -> list[dict]:
    """The VBx settings swept on the tuning set."""
    return [
        {
            "count": "vbx",
            "vbx_start": "threshold",
            "vbx_init": i,
            "vbx_loop": lp,
            "vbx_fa": fa,
            "vbx_fb": fb,
        }
        for i, lp, fa, fb in itertools.product(INITS, LOOPS, FAS, FBS)
    ]


def label(cluster: dict) -> str:
    from dataclasses import asdict

    from diarize.config import ClusterConfig

    cluster = {**asdict(ClusterConfig()), **cluster}
    if cluster["count"] != "vbx":
        return cluster["count"]
    start = "scaled + " if cluster.get("vbx_start") == "scaled" else ""
    return (
        f"vbx, start {start}{cluster['vbx_init']:g}, loop {cluster['vbx_loop']:g}, "
        f"Fa {cluster['vbx_fa']:g}, Fb {cluster['vbx_fb']:g}"
    )


def analyse_sets(pipeline, sets: dict, log) -> dict[str, dict]:
    """The front half of ``pipeline`` once per file of every set: set name -> uri ->
    analysis (speech detection memoised across the sets)."""
    analyses: dict[str, dict] = {}
    with der.memoized_vad():
        for name, items in sets.items():
            log(f"[{name}] analysing {len(items)} files")
            analyses[name] = {it.uri: pipeline.analyse(it.wav, it.uri) for it in items}
    return analyses


def score(pipeline, analyses, items, changes: dict, section: str = "cluster") -> dict:
    """Corpus DER and its parts (``der.Scores.summary``), the one-speaker outputs on
    multi-speaker files, and each file's (error, scored) seconds (``per_file``, for paired
    comparisons) of one setting: ``changes`` to the config's ``section``."""
    from diarize.config import update_config

    config = update_config(pipeline.config, {section: changes})
    scores = der.Scores()
    single = multi = 0
    for item in items:
        tic = time.perf_counter()
        hyp = pipeline.decide(analyses[item.uri], config)
        rec = scores.add(item, hyp, time.perf_counter() - tic, 0.0)
        if rec["ref_speakers"] >= 2:
            multi += 1
            single += rec["hyp_speakers"] <= 1
    per_file = [(f["missed"] + f["false_alarm"] + f["confusion"], f["total"]) for f in scores.files]
    return {**scores.summary(), "single": single, "multi": multi, "per_file": per_file}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="encoder (default: shipped)")
    parser.add_argument("--out", default=None, help=f"markdown report (default {REPORT})")
    args = parser.parse_args(argv)
    log = der.log_stderr
    import torch

    torch.set_num_threads(1)
    from diarize.config import load_config
    from diarize.encoder import load_encoder
    from diarize.pipeline import Pipeline

    tic = time.perf_counter()
    cmd = " ".join(["python -m benchmarks.vbx", *(argv or sys.argv[1:])])
    header = der.report_header("VBx speaker counting across domains", cmd)
    sets = cd.sets_with_tuning(DOMAINS, log)
    if sets is None or not sets["tuning"]:
        log("needs ../shared/data (the crossdomain domains and tuning set)")
        return 1
    sets["tuning-8k"] = cd.telephone_tuning_items(log)
    pipeline = Pipeline(load_config(None), encoder=load_encoder(args.model))
    analyses = analyse_sets(pipeline, sets, log)
    tuning = []
    for cluster in grid():
        s = score(pipeline, analyses["tuning"], sets["tuning"], cluster)
        tuning.append((s["der"], cluster))
        log(f"[tuning] {label(cluster)}: DER {100 * s['der']:.1f} %")
    tuning.sort(key=lambda r: r[0])
    best = tuning[0][1]
    rows = [
        ("learned threshold", {"count": "threshold"}),
        ("vbx, tuning-set pick", best),
        ("vbx, the pick started from the scaled rule", {**best, "vbx_start": "scaled"}),
        ("vbx, package defaults", {"count": "vbx"}),
    ]
    table = []
    for name, cluster in rows:
        cells = {d: score(pipeline, analyses[d], sets[d], cluster) for d in DOMAINS}
        table.append((name, cluster, cells))
        log(f"[domains] {name}: " + " ".join(f"{100 * c['der']:.1f}" for c in cells.values()))
    elapsed = time.perf_counter() - tic
    model = args.model or "the shipped encoder"
    lines = header + [
        f"- encoder: {model}",
        der.run_time_line(elapsed),
        "",
        "DER (%) from pyannote.metrics, collar 0 with overlap scored, corpus totals per "
        "domain; in brackets the files given one speaker (or none) of those holding two or "
        "more. Domains and tuning set: those of `benchmarks.crossdomain` (CROSSDOMAIN.md).",
        "",
        "## Domains",
        "",
        "| setting | " + " | ".join(DOMAINS) + " | mean | tuning set |",
        "|---|" + "---|" * (len(DOMAINS) + 2),
    ]
    for name, cluster, cells in table:
        tune = score(pipeline, analyses["tuning"], sets["tuning"], cluster)
        mean = np.mean([cells[d]["der"] for d in DOMAINS])
        lines.append(
            f"| {name}: {label(cluster)} | "
            + " | ".join(
                f"{100 * cells[d]['der']:.1f} ({cells[d]['single']}/{cells[d]['multi']})"
                for d in DOMAINS
            )
            + f" | **{100 * mean:.1f}** | {100 * tune['der']:.1f} |"
        )
    lines += [
        "",
        f"## Tuning set ({len(sets['tuning'])} files), the ten best of {len(tuning)} settings",
        "",
        "| setting | DER |",
        "|---|---|",
    ]
    lines += [f"| {label(c)} | {100 * d:.1f} |" for d, c in tuning[:10]]
    lines += telephone_section(pipeline, analyses, sets)
    return der.write_report(args.out or REPORT, lines)


#: How telephone-band input can be counted: the default, and the rules it could switch to.
TELEPHONE_RULES = (
    ("package defaults (vbx started from the scaled rule)", {}),
    ("the scaled rule alone", {"count": "scaled"}),
    ("the learned threshold (narrowband value)", {"count": "threshold", "narrowband_count": ""}),
)


def telephone_section(pipeline, analyses, sets) -> list[str]:
    """Telephone-band input: the default count against the rules it could switch to, on the
    tuning set through the telephone channel (where the choice is made) and on so762-8k."""
    names = ("tuning-8k", "so762-8k")
    lines = [
        "",
        f"## Telephone-band input ({len(sets['tuning-8k'])} tuning files through the "
        "telephone channel of so762-8k; the choice is made on them)",
        "",
        "| rule | " + " | ".join(names) + " |",
        "|---|---|---|",
    ]
    for name, cluster in TELEPHONE_RULES:
        cells = [score(pipeline, analyses[n], sets[n], cluster) for n in names]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{100 * c['der']:.1f} ({c['single']}/{c['multi']})" for c in cells)
            + " |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
