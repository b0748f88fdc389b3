"""Recordings of one voice: how often the pipeline splits one speaker into several.

Needs ../shared/data.

    python -m benchmarks.single_speaker
    python -m benchmarks.single_speaker --settings '[{"vbx_fb": 7.0}]' --out report.md

Every multi-speaker domain of ``benchmarks.crossdomain`` holds 2 to 6 talkers, so a rule that
splits one voice in two is never charged there. Here every recording is one voice: each of the
10 LibriSpeech test-other speakers (their 10 utterances) and each of the 40 held-out
speechocean762 speakers (all of their utterances), the utterances joined with 0.4 s of
silence, as recorded (16 kHz) and through the telephone channel of ``benchmarks.crossdomain``.
For each setting of one config section: the recordings given more than one speaker, the mean
number of speakers, and the share of the output's speech given to speakers other than its
largest, which is what a one-speaker reference would count as confusion. The speaker ids in
the file names only group the utterances into recordings.

Those recordings are clean. A second set puts one voice in the rooms and noise of the
crossdomain conversations: ``benchmarks.crossdomain``'s simulation with one talker per file
(image-method rooms, synthetic coloured and babble noise at 5-20 dB SNR), 8 files of
held-out speechocean762 voices and 8 of test-other voices per seed (``--room-seeds``), as
simulated and through the telephone channel. There the reference says where the voice
speaks, so the table adds the DER (collar 0) and that of the one-speaker answer with the
same speech detector, which a one-voice recording should not lose to.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der

SR = 16000
PAUSE = 0.4  # seconds of silence between utterances
REPORT = der.ROOT / "benchmarks" / "reports" / "SINGLE-SPEAKER.md"


def recordings(log) -> dict[str, np.ndarray]:
    """name -> one voice's utterances joined (16 kHz float32)."""
    from diarize import audio as audio_io

    groups: dict[str, list[Path]] = {}
    if cd.TESTOTHER.is_dir():
        for folder in sorted(p for p in cd.TESTOTHER.iterdir() if p.is_dir()):
            groups[f"testother-{folder.name}"] = sorted(folder.rglob("*.flac"))
    held = cd.held_out_speakers(log)
    if held is not None:
        by_speaker: dict[str, list[Path]] = defaultdict(list)
        for path in sorted(held.iterdir()):
            by_speaker[path.name.split("_")[0]].append(path)
        for speaker, paths in by_speaker.items():
            groups[f"so762-{speaker}"] = paths
    pause = np.zeros(int(PAUSE * SR), dtype=np.float32)
    out = {}
    for name, paths in groups.items():
        pieces = []
        for path in paths:
            pieces += [audio_io.load(path, SR).astype(np.float32), pause]
        out[name] = np.concatenate(pieces[:-1])
    return out


def room_items(log, seeds) -> list[der.Item]:
    """One-talker files simulated as the crossdomain conversations (made once under
    scratch/bench/): per seed, 8 of held-out speechocean762 voices and 8 of test-other voices."""
    import dataclasses

    held = cd.held_out_speakers(log)
    sources = {"so762": held, "testother": cd.TESTOTHER if cd.TESTOTHER.is_dir() else None}
    items = []
    for seed in seeds:
        for domain, source in sources.items():
            if source is None:
                continue
            config = dataclasses.replace(
                cd.simulation(domain, seed),
                min_speakers=1,
                max_speakers=1,
                speaker_counts=(1,),
                overlap=(0.0, 0.0),
                prefix=f"one{domain}",
            )
            items += der.load_set(cd.synthetic_set(f"one{domain}-seed{seed}", config, source, log))
    return items


def split_share(turns) -> float:
    """Share of the output's speech (seconds, overlaps counted per speaker) that is not
    its largest speaker's; 0 for no speech."""
    per: dict[str, float] = defaultdict(float)
    for t in turns:
        per[t.speaker] += t.end - t.start
    total = sum(per.values())
    return 0.0 if total <= 0 else 1.0 - max(per.values()) / total


def count_cells(rows: list[tuple[int, float]]) -> str:
    """Table cells of one setting from its (speakers, :func:`split_share`) per recording:
    recordings given more than one speaker, the mean count, the mean share."""
    counts = np.array([c for c, _ in rows])
    shares = np.array([s for _, s in rows])
    return (
        f"{(counts > 1).sum()} / {len(counts)} | {counts.mean():.2f} | {100 * shares.mean():.1f} %"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", default="cluster", help="config section the settings change")
    parser.add_argument("--settings", default="[]", help="JSON list of settings (besides defaults)")
    parser.add_argument(
        "--room-seeds",
        default="0,202,303",
        help="seeds of the one-talker files in rooms and noise (comma-separated; '' = none)",
    )
    parser.add_argument(
        "--room-excerpt",
        type=float,
        default=None,
        metavar="SECONDS",
        help="cut the one-talker files in rooms and noise into excerpts of this length "
        "(benchmarks.draws --excerpt)",
    )
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    settings = json.loads(args.settings)
    if not isinstance(settings, list) or not all(isinstance(s, dict) for s in settings):
        parser.error("--settings takes a JSON list of objects")
    from benchmarks.draws import label, needs_analysis
    from diarize import audio as audio_io
    from diarize.config import load_config, update_config
    from diarize.pipeline import Pipeline

    log = der.log_stderr
    tic = time.perf_counter()
    recs = recordings(log)
    if not recs:
        log("nothing to run: ../shared/data not found")
        return 1
    defaults = Pipeline(load_config(None))
    pipelines = [
        defaults,
        *(Pipeline(update_config(defaults.config, {args.section: s})) for s in settings),
    ]
    bands = {"16 kHz": lambda x: x, "8 kHz telephone": cd.telephone_at_16k}

    def run_all(signal, uri):
        """(pipeline, its analysis, its output) of every setting; the front half once for
        the settings that do not change it."""
        shared = defaults.analyse(signal, uri=uri)
        out = []
        for setting, pipe in zip([{}, *settings], pipelines, strict=True):
            own = needs_analysis(args.section, setting)
            analysis = pipe.analyse(signal, uri=uri) if own else shared
            out.append((pipe, analysis, pipe.decide(analysis)))
        return out

    # results[band][setting index] -> list of (count, share) per recording
    results = {b: [[] for _ in pipelines] for b in bands}
    for name, x in recs.items():
        for band, channel in bands.items():
            runs = run_all(channel(x), name)
            for k, (_, _, out) in enumerate(runs):
                results[band][k].append((out.num_speakers, split_share(out.turns)))
            cells = [out.num_speakers for _, _, out in runs]
            log(f"{name} {band} {len(x) / SR:.0f} s: speakers {cells}")
    seeds = [int(x) for x in args.room_seeds.split(",") if x.strip()]
    items = room_items(log, seeds)
    if args.room_excerpt is not None:
        from benchmarks.draws import excerpts

        items = excerpts(items, args.room_excerpt)
    # each setting's config with the count given as one: the one-speaker answer
    alone = [update_config(p.config, {"cluster": {"num_speakers": 1}}) for p in pipelines]
    # rooms[band][setting index] -> (count, share) per file, and der.Scores of the setting
    # and of the one-speaker answer with its detector
    rooms = {b: [([], der.Scores(), der.Scores()) for _ in pipelines] for b in bands}
    for item in items:
        x = audio_io.as_float32(cd.item_waveform(item))
        for band, channel in bands.items():
            runs = run_all(channel(x), item.uri)
            for k, (pipe, analysis, out) in enumerate(runs):
                counts, scores, single = rooms[band][k]
                counts.append((out.num_speakers, split_share(out.turns)))
                scores.add(item, out, 0.0, 0.0)
                single.add(item, pipe.decide(analysis, alone[k]), 0.0, 0.0)
            cells = [out.num_speakers for _, _, out in runs]
            log(f"{item.uri} {band}: speakers {cells}")
    given = argv if argv is not None else sys.argv[1:]
    cmd = " ".join(["python -m benchmarks.single_speaker", *given])
    lines = der.report_header("Recordings of one voice", cmd)
    n_to = sum(k.startswith("testother") for k in recs)
    minutes = sum(len(x) for x in recs.values()) / SR / 60
    lines += [
        der.run_time_line(time.perf_counter() - tic),
        f"- recordings: {len(recs)} of one voice each ({n_to} test-other speakers, "
        f"{len(recs) - n_to} held-out speechocean762 speakers; {minutes:.1f} min; utterances "
        f"joined with {PAUSE} s of silence), as recorded and through the telephone channel",
        "",
        "Per setting of `[" + args.section + "]`: recordings given more than one speaker, the "
        "mean number of speakers, and the share of the output's speech given to speakers other "
        "than its largest (mean over recordings; a one-speaker reference would count it as "
        "confusion).",
        "",
    ]
    for band in bands:
        lines += [
            f"## {band}",
            "",
            "| setting | more than one speaker | mean speakers | speech not the largest's |",
            "|---|---|---|---|",
        ]
        for setting, rows in zip([{}, *settings], results[band], strict=True):
            lines.append(f"| {label(setting)} | {count_cells(rows)} |")
        lines.append("")
    if items:
        minutes = sum(it.duration for it in items) / 60
        lines += [
            "## One voice in rooms and noise",
            "",
            f"{len(items)} one-talker files ({minutes:.1f} min; seeds "
            f"{', '.join(map(str, seeds))}"
            + ("" if args.room_excerpt is None else f"; cut into {args.room_excerpt:g}-s excerpts")
            + "): `benchmarks.crossdomain`'s simulation with one talker "
            "(image-method rooms, synthetic coloured and babble noise at 5-20 dB SNR), half "
            "held-out speechocean762 voices, half test-other voices. DER from pyannote.metrics, "
            "collar 0, corpus totals; the one-speaker answer keeps the setting's speech detector.",
            "",
        ]
        for band in bands:
            lines += [
                f"### {band}",
                "",
                "| setting | more than one speaker | mean speakers | speech not the largest's "
                "| DER % | miss | FA | conf | DER %, one speaker |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for setting, (rows, scores, single) in zip([{}, *settings], rooms[band], strict=True):
                got, alone = scores.summary(), single.summary()
                lines.append(
                    f"| {label(setting)} | {count_cells(rows)} | "
                    f"**{100 * got['der']:.1f}** | {100 * got['missed']:.1f} | "
                    f"{100 * got['false_alarm']:.1f} | {100 * got['confusion']:.1f} | "
                    f"{100 * alone['der']:.1f} |"
                )
            lines.append("")
    return der.write_report(Path(args.out), lines)


if __name__ == "__main__":
    sys.exit(main())
