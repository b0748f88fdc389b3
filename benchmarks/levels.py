"""Recording level: the same recordings played back quieter.

Extras: `score` (pyannote.metrics).

    python -m benchmarks.levels            # writes benchmarks/reports/LEVELS.md

Every recording of dev/ami and of the simulated set is diarized as it is and attenuated by
10, 20, 35 and 45 dB (then stored as 16-bit samples, as a quiet file would be). Before
analysis the pipeline raises a recording whose loud samples (99.9th percentile of |x|) are
more than 0.5 dB quieter than -12 dBFS to that level (``diarize.audio.raise_quiet``: at most
+30 dB, peak kept under -1 dBFS); the rows "not raised" switch that off, to show what it buys. DER
from pyannote.metrics, corpus totals, collar 0 with overlap scored.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from unittest import mock

from benchmarks.der import (
    ROOT,
    dev_and_simulated_sets,
    report_header,
    write_report,
)
from benchmarks.der import log_stderr as log

OUT = ROOT / "benchmarks" / "reports" / "LEVELS.md"
ATTENUATIONS = (0, 10, 20, 35, 45)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import numpy as np

    from diarize import audio
    from diarize.encoder import set_num_threads
    from diarize.pipeline import Pipeline
    from diarize.scoring import der_components

    set_num_threads(1)
    sets = dev_and_simulated_sets(log)
    if not sets:
        return 1
    pipe = Pipeline()
    rows = []
    for set_name, items in sets.items():
        totals: dict[str, dict[str, float]] = {}
        for item in items:
            log(f"[{set_name}] {item.uri}")
            pcm = audio.load(item.wav, pipe.sample_rate, dtype="int16")
            x = audio.as_float32(pcm)
            for db in ATTENUATIONS:
                # 16-bit samples, as the file would be read; as recorded: the file's own.
                quiet = audio.to_pcm16(x * np.float32(10 ** (-db / 20))) if db else pcm
                variants = [("raised when quiet", None), ("not raised", lambda w, **_: (w, 0.0))]
                for label, patch in variants:
                    if patch is None:
                        hyp = pipe(quiet, uri=item.uri)
                    else:
                        with mock.patch.object(audio, "raise_quiet", patch):
                            hyp = pipe(quiet, uri=item.uri)
                    c = der_components(item.reference, hyp, uem=item.uem)
                    key = f"{f'-{db} dB' if db else 'as recorded'} | {label}"
                    t = totals.setdefault(
                        key,
                        dict.fromkeys(
                            ("total", "missed", "false_alarm", "confusion", "level"), 0.0
                        ),
                    )
                    for k in ("total", "missed", "false_alarm", "confusion"):
                        t[k] += c[k]
                    t["level"] += audio.loud_level_db(quiet) / len(items)
        for key, t in totals.items():
            err = t["missed"] + t["false_alarm"] + t["confusion"]
            pct = {k: 100 * t[k] / t["total"] for k in ("missed", "false_alarm", "confusion")}
            rows.append(
                f"| {set_name} | {key} | {t['level']:.1f} | **{100 * err / t['total']:.1f}** "
                f"| {pct['missed']:.1f} | {pct['false_alarm']:.1f} | {pct['confusion']:.1f} |"
            )
    lines = [
        *report_header("Recording level", "python -m benchmarks.levels"),
        "",
        __doc__.split("\n\n", 2)[2].strip().replace("\n", " "),
        "",
        "**level**: mean over the set of the 99.9th percentile of |x| (dBFS) of the input.",
        "",
        "| set | attenuation | quiet input | level dBFS | DER % | miss | FA | conf |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    return write_report(args.out, lines)


if __name__ == "__main__":
    raise SystemExit(main())
