"""Speaker-verification EER on voices the encoder never trained on, at 16 kHz and through 8 kHz.

    python -m benchmarks.heldout_eer [--model NAME=PATH ...]   # -> benchmarks/reports/EER.md

Sets (need ../shared/data): LibriSpeech test-other (10 speakers, read English) and the 40
speechocean762 speakers held out of training (``heldout_split --by-speaker --held 40 --seed
2026``; non-native English, adults and children), the latter also through the telephone
channel of ``benchmarks.crossdomain`` (300-3400 Hz, 8 kHz, G.711 mu-law). Trials as
``diarize eval-embeddings``: every same-speaker pair of segments from different utterances
against a seeded sample of 20,000 different-speaker pairs, segments of 1.5 and 3 s, cosine
scores; a model that carries a PLDA back end is also scored by its log-likelihood ratios (row
"..., PLDA"), which is what the pipeline clusters with.
With the ``bench`` extra Resemblyzer (supervised) is scored on the same trials. On the 8-kHz
set a model that carries telephone-band batch-norm statistics is scored with them too (what
the pipeline embeds telephone-band input with). Each EER carries a 95 % interval from 1000
bootstrap draws of the speakers (``diarize.eer.eer_interval``): with 10 test-other voices it
says how far a difference between rows can be told from the choice of voices.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from benchmarks import crossdomain as cd
from benchmarks import der

REPORT = der.ROOT / "benchmarks" / "reports" / "EER.md"


def speaker_folders(files: list[Path], out: Path, telephone: bool) -> Path:
    """``out/<speaker>/<utterance>`` for ``files`` named ``<speaker>_<utterance>``: links, or
    telephone-channel copies (8-kHz WAV)."""
    import soundfile as sf

    from diarize.audio import load

    if out.is_dir() and any(out.iterdir()):
        return out
    for path in files:
        speaker = path.stem.split("_", 1)[0]
        folder = out / speaker
        folder.mkdir(parents=True, exist_ok=True)
        if not telephone:
            (folder / path.name).symlink_to(path.resolve())
            continue
        y = cd.telephone_channel(load(path, 16000), 16000)
        sf.write(str(folder / f"{path.stem}.wav"), y, 8000, subtype="PCM_16")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--out", default=str(REPORT))
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="draws of the speakers for the intervals"
    )
    args = parser.parse_args(argv)
    from diarize.eer import evaluate
    from diarize.encoder import load_encoder

    log = der.log_stderr
    held = cd.held_out_speakers(log)
    sets: dict[str, Path] = {}
    if cd.TESTOTHER.is_dir():
        sets["test-other (16 kHz)"] = cd.TESTOTHER
    if held is not None:
        files = sorted(held.iterdir())
        base = der.CACHE / "eer"
        sets["held-out speechocean762 (16 kHz)"] = speaker_folders(files, base / "so762", False)
        sets["held-out speechocean762 (8 kHz)"] = speaker_folders(files, base / "so762-8k", True)
    if not sets:
        log("nothing to run: ../shared/data not found")
        return 1
    models = {"shipped": load_encoder(None)}
    for spec in args.model:
        name, _, path = spec.partition("=")
        models[name] = load_encoder(path)
    try:
        from benchmarks.encoders import ResemblyzerEncoder

        models["Resemblyzer (supervised)"] = ResemblyzerEncoder()
    except ImportError as exc:
        log(f"Resemblyzer skipped: {exc}")
    from diarize.baselines import MfccStatsEncoder

    models["MFCC statistics"] = MfccStatsEncoder()
    cmd = " ".join(["python -m benchmarks.heldout_eer", *(argv or sys.argv[1:])])
    lines = der.report_header("Speaker-verification EER on held-out voices", cmd)
    lines += ["", "EER (%), cosine scores (PLDA log-likelihood ratios in the rows so named);"]
    lines += ["lower is better. In brackets: 95 % bootstrap interval over the speakers"]
    lines += [f"({args.bootstrap} draws; the trials of one voice are not independent).", ""]
    for name, folder in sets.items():
        scored = dict(models)
        if "8 kHz" in name:
            # as the pipeline embeds telephone-band input: with the model's telephone-band
            # batch-norm statistics, where it has them
            for model_name, model in models.items():
                variant = model.narrowband()
                if variant is not None:
                    scored[f"{model_name}, telephone-band statistics"] = variant
                    extra = getattr(variant, "extra", None) or {}
                    if "narrowband_plda" in extra:
                        # ... and its PLDA rows scored by the telephone-band PLDA
                        both = copy.copy(variant)
                        both.extra = {**extra, "plda": extra["narrowband_plda"]}
                        scored[f"{model_name}, telephone-band statistics and PLDA"] = both
        log(f"[{name}] scoring {len(scored)} models")
        result = evaluate(scored, folder, (1.5, 3.0), 20000, 0, plda=True, bootstrap=args.bootstrap)
        lines += [f"## {name}", "", f"trials: {result.description}", "", result.table(), ""]
    return der.write_report(Path(args.out), lines)


if __name__ == "__main__":
    sys.exit(main())
