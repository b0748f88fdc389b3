"""Telephone-band audio: the same recordings as recorded and passed through 8 kHz.

Extras: `score` (pyannote.metrics); a `.pt` --model needs `train`.

    python -m benchmarks.narrowband            # writes benchmarks/reports/NARROWBAND.md

Call-centre audio is sampled at 8 kHz, so it holds nothing above 4 kHz. Every recording of
dev/ami and of the simulated set is diarized as it is, and again after resampling to 8 kHz
and back (what ``diarize`` does with an 8 kHz file). The pipeline notices such audio
(``diarize.audio.is_narrowband``) and then clusters with the model's narrowband threshold,
which ``diarize fit-backend`` chose on its calibration conversations passed through 8 kHz;
the row "wideband threshold" forces the ordinary threshold instead, to show what that buys.
DER from pyannote.metrics, corpus totals, collar 0 with overlap scored.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.der import (
    ROOT,
    dev_and_simulated_sets,
    report_header,
    write_report,
)
from benchmarks.der import log_stderr as log

OUT = ROOT / "benchmarks" / "reports" / "NARROWBAND.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: shipped)")
    args = parser.parse_args(argv)

    from diarize import audio
    from diarize.config import PipelineConfig
    from diarize.encoder import default_model_path, load_encoder, set_num_threads, sha256sum
    from diarize.pipeline import Pipeline
    from diarize.scoring import der_components

    set_num_threads(1)
    sets = dev_and_simulated_sets(log)
    if not sets:
        return 1
    model_path = Path(args.model) if args.model else default_model_path()
    encoder = load_encoder(model_path)
    pipe = Pipeline(PipelineConfig(), encoder=encoder)
    wide_thr = pipe.scorer(pipe.config)[1]
    rows = []
    for set_name, items in sets.items():
        totals: dict[str, dict[str, float]] = {}
        flagged = {"as recorded": 0, "8 kHz": 0}
        for item in items:
            log(f"[{set_name}] {item.uri}")
            x = audio.load(item.wav, pipe.sample_rate, dtype="int16")  # as the CLI reads it
            y = audio.telephone_band(x, pipe.sample_rate)
            runs = []
            for label, signal in (("as recorded", x), ("8 kHz", y)):
                analysis = pipe.analyse(signal, uri=item.uri)
                flagged[label] += int(analysis.narrowband)
                runs.append((label, pipe.decide(analysis)))
                if label == "8 kHz":
                    runs.append(
                        ("8 kHz, wideband threshold", pipe.decide(analysis, threshold=wide_thr))
                    )
            for label, hyp in runs:
                c = der_components(item.reference, hyp, uem=item.uem)
                t = totals.setdefault(
                    label,
                    {"total": 0.0, "missed": 0.0, "false_alarm": 0.0, "confusion": 0.0, "spk": 0.0},
                )
                for k in ("total", "missed", "false_alarm", "confusion"):
                    t[k] += c[k]
                t["spk"] += abs(hyp.num_speakers - item.reference.num_speakers)
        for label, t in totals.items():
            flags = flagged.get(label, flagged["8 kHz"])
            err = t["missed"] + t["false_alarm"] + t["confusion"]
            pct = {k: 100 * t[k] / t["total"] for k in ("missed", "false_alarm", "confusion")}
            rows.append(
                f"| {set_name} | {label} | {flags} of {len(items)} "
                f"| **{100 * err / t['total']:.1f}** | {pct['missed']:.1f} "
                f"| {pct['false_alarm']:.1f} | {pct['confusion']:.1f} "
                f"| {t['spk'] / len(items):.2f} |"
            )
    narrow_thr = encoder.extra.get("cosine_threshold_narrowband")
    lines = [
        *report_header("Telephone-band audio", "python -m benchmarks.narrowband"),
        f"- encoder: `{model_path.name}` (sha256 {sha256sum(model_path)[:12]}); cosine "
        f"threshold {wide_thr:.3f}, narrowband threshold "
        + (f"{float(narrow_thr):.3f}" if narrow_thr is not None else "none (the model has none)"),
        "",
        __doc__.split("\n\n", 2)[2].strip().replace("\n", " "),
        "",
        "**narrowband**: recordings the pipeline took for telephone-band audio. "
        "**spk |err|**: mean |found - true| speaker count.",
        "",
        "| set | audio | narrowband | DER % | miss | FA | conf | spk \\|err\\| |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    return write_report(args.out, lines)


if __name__ == "__main__":
    raise SystemExit(main())
