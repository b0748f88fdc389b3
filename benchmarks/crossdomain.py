"""Cross-domain diarization error: every default is chosen on all of these domains at once.

    python -m benchmarks.crossdomain                     # -> benchmarks/reports/CROSSDOMAIN.md
    python -m benchmarks.crossdomain --variants shipped,one-speaker --domains ami,so762
    python -m benchmarks.crossdomain --list              # domains and variants
    python -m benchmarks.crossdomain --seed 202 --out benchmarks/reports/CROSSDOMAIN-seed202.md

Domains (all need ../shared/data; a domain whose data is absent is skipped with a message):

* ``ami``: dev/ami, 12 excerpts of real far-field meetings (30 s, 1-4 talkers).
* ``so762``: conversations of 40 speechocean762 speakers held out of the encoder's training
  (non-native English, adults and children; ``heldout_split --by-speaker --held 40 --seed
  2026``), 16 kHz.
* ``so762-8k``: the same conversations passed through a telephone channel: 300-3400 Hz band,
  8 kHz, G.711 mu-law, stored at 8 kHz.
* ``testother``: conversations of the 10 LibriSpeech test-other speakers (read English).

The simulated domains are 8 conversations of about 2 min with 2, 3, 4, 5, 6, 2, 3 and 4
talkers and up to 20 % overlap, in shoebox rooms simulated by the image-source method (RT60
0.2-0.8 s, talkers 0.7-2.5 m from the microphone) and with synthetic babble or coloured
noise at 5-20 dB SNR: neither the room model nor the noise recordings of the encoder's
augmentation are used. They are generated into ``scratch/bench/`` on first use. ``--seed``
draws other conversations of the same voices, with rooms and noise drawn from the same
ranges (a second draw shows how far a figure moves with the draw alone; dev/ami stays).
Thresholds of the ``tuned`` rows are chosen on a separate tuning set (3 files of each
simulated 16-kHz domain, seed 101), never on the domains themselves.

Every figure is DER from pyannote.metrics (``diarize.scoring``), corpus totals per domain:
collar 0 with overlap scored, and pyannote collar 0.5 (0.25 s each side) with overlap skipped.
The mean over domains weighs every domain equally.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import der
from benchmarks.der import ONE, Item, Variant, load_set

ROOT = der.ROOT
DATA = der.DATA
CACHE = der.CACHE
REPORT = ROOT / "benchmarks" / "reports" / "CROSSDOMAIN.md"
PREVIOUS_MODEL = ROOT / "models" / "encoder-v1.pt"
SO762 = DATA / "train" / "speechocean762"
TESTOTHER = DATA / "train" / "librispeech" / "librispeech_test-other"

#: held-out speechocean762 speakers: the split the shipped encoder's training excluded
HELD_SPEAKERS, SPLIT_SEED = 40, 2026
#: the draw of the tuning set's conversations (never a domain's)
SEED_TUNING = 101


def seed_problem(seed: int) -> str | None:
    """Why ``seed`` cannot draw a domain's conversations, or None when it can."""
    if seed < 0:
        return f"seed {seed}: seeds are 0 or more"
    if seed == SEED_TUNING:
        return f"seed {SEED_TUNING} draws the tuning set; choose another"
    return None


V = Variant
EIGEN = {"cluster": {"count": "eigengap"}}
VAD_LOW = {"vad": {"threshold": 0.15, "hysteresis": 0.1, "min_silence": 0.5, "pad": 0.1}}
VARIANTS = [
    V("shipped", "shipped", "shipped pipeline, defaults"),
    V(
        "oracle-count",
        "shipped",
        "shipped, speaker count from the reference (AHC on PLDA scores)",
        oracle=True,
    ),
    V(
        "oracle-max",
        "shipped",
        "shipped, the reference's speaker count as an upper bound (--max-speakers)",
        oracle="max",
    ),
    V(
        "oracle-cosine",
        "shipped",
        "shipped, speaker count from the reference, AHC on cosine similarity",
        {"cluster": {"scoring": "cosine"}},
        oracle=True,
    ),
    V("one-speaker", "constant", "one speaker everywhere, same detector", ONE),
    V(
        "threshold",
        "shipped",
        "count by the learned threshold",
        {"cluster": {"count": "threshold"}},
    ),
    V("eigengap", "shipped", "count by the normalised maximum eigengap, AHC labels", EIGEN),
    V(
        "nme-sc",
        "shipped",
        "NME-SC: eigengap count, spectral labels",
        {"cluster": {"count": "nme-sc"}},
    ),
    V(
        "scaled",
        "shipped",
        "threshold scaled by each recording's nearest-neighbour similarity",
        {"cluster": {"count": "scaled"}},
    ),
    V(
        "vbx",
        "shipped",
        "VBx: Bayesian HMM clustering with the model's PLDA, count from its posterior",
        {"cluster": {"count": "vbx"}},
    ),
    V(
        "no-background",
        "shipped",
        "shipped without the background carving ([resegment] background = false)",
        {"resegment": {"background": False}},
    ),
    V(
        "no-min-pause",
        "shipped",
        "a speaker's pauses under 0.2 s not bridged in the output ([resegment] min_pause = 0; "
        "the default before 2026-12-06)",
        {"resegment": {"min_pause": 0.0}},
    ),
    V("window-1.25", "shipped", "1.25 s embedding windows", {"embed": {"window": 1.25}}),
    V("window-2", "shipped", "2 s embedding windows", {"embed": {"window": 2.0}}),
    V("window-2.5", "shipped", "2.5 s embedding windows", {"embed": {"window": 2.5}}),
    V("step-0.5", "shipped", "a window every 0.5 s instead of 0.25", {"embed": {"step": 0.5}}),
    V(
        "center",
        "shipped",
        "each recording's mean embedding removed before clustering ([cluster] center)",
        {"cluster": {"center": True}},
    ),
    V("no-pad", "shipped", "speech regions not padded ([vad] pad = 0)", {"vad": {"pad": 0.0}}),
    V("pad-0.1", "shipped", "speech regions padded by 0.1 s", {"vad": {"pad": 0.1}}),
    V(
        "pad-0.2-ungated",
        "shipped",
        "speech regions padded by 0.2 s without the padding gate ([vad] pad_floor_db = 0; the "
        "default before 2026-12-06)",
        {"vad": {"pad": 0.2, "pad_floor_db": 0.0}},
    ),
    V("pad-0.15", "shipped", "speech regions padded by 0.15 s", {"vad": {"pad": 0.15}}),
    V(
        "min-start-1",
        "shipped",
        "VBx started from whatever the starting threshold gives ([cluster] vbx_min_start = 1; "
        "the default before 2026-12-06)",
        {"cluster": {"vbx_min_start": 1}},
    ),
    V(
        "no-floor",
        "shipped",
        "no level floor gate ([vad] floor_db = 0, the default before 2026-12-05)",
        {"vad": {"floor_db": 0.0}},
    ),
    V(
        "no-lowpass",
        "shipped",
        "the speech detector hears the recording once, not also low-passed at 6 kHz "
        "([vad] lowpass_hz = 0, the default before 2026-12-06)",
        {"vad": {"lowpass_hz": 0.0}},
    ),
    V(
        "lowpass-everywhere",
        "shipped",
        "the low-passed listen in every frame, not only where the band above 6 kHz is at "
        "the recording's floor ([vad] lowpass_gate_db = 0)",
        {"vad": {"lowpass_gate_db": 0.0}},
    ),
    V(
        "floor-2.5",
        "shipped",
        "output speech cut where the level is within 2.5 dB of the recording's floor",
        {"vad": {"floor_db": 2.5}},
    ),
    V(
        "floor-q5",
        "shipped",
        "the level floor measured at the 5 % quantile instead of 0.5 % ([vad] floor_quantile)",
        {"vad": {"floor_quantile": 0.05}},
    ),
    V(
        "vad-low",
        "shipped",
        "speech threshold 0.15 (hysteresis 0.1), pauses under 0.5 s bridged, padding 0.1 s",
        VAD_LOW,
    ),
    V(
        "vad-low-scaled",
        "shipped",
        "vad-low and the scaled count rule",
        {**VAD_LOW, "cluster": {"count": "scaled"}},
    ),
    V(
        "narrowband-plda",
        "shipped",
        "telephone-band input scored by the model's telephone-band PLDA "
        "([cluster] narrowband_plda = true)",
        {"cluster": {"narrowband_plda": True}},
    ),
    V(
        "oracle-count-narrowband-plda",
        "shipped",
        "true count (AHC on PLDA scores), telephone-band input scored by the telephone-band PLDA",
        {"cluster": {"narrowband_plda": True}},
        oracle=True,
    ),
    V(
        "no-overlap",
        "shipped",
        "one speaker per frame: no overlap detector ([overlap] enabled = false, the default "
        "before 2026-12-05)",
        {"overlap": {"enabled": False}},
    ),
    V(
        "overlap-anywhere",
        "shipped",
        "second speaker wherever the overlap detector hears two, not only near a change of "
        "speaker ([overlap] turn_window = 0, --overlap before 2026-12-05)",
        {"overlap": {"turn_window": 0.0}},
    ),
    V(
        "oracle-speech",
        "shipped",
        "shipped, the reference's speech regions, unpadded and ungated, instead of the speech "
        "detector's",
        {"vad": {"pad": 0.0, "floor_db": 0.0}},
        speech="reference",
    ),
    V(
        "oracle-overlap",
        "shipped",
        "the reference's overlap regions (a perfect overlap detector, near a change of "
        "speaker or not), the same second-speaker rule",
        {"overlap": {"enabled": True}},
        overlaps="reference",
    ),
    V(
        "oracle-labels",
        "shipped",
        "every window given the reference speaker who talks most within 0.75 s of its centre "
        "(a perfect encoder and clustering); detector, resegmentation, overlap and output as "
        "shipped",
        labels="reference",
    ),
    V(
        "oracle-overlap-turns",
        "shipped",
        "the reference's overlap frames as the detector's probabilities (a perfect detector) "
        "under the shipped rule: only near a change of speaker",
        {"overlap": {"enabled": True}},
        overlaps="reference-frames",
    ),
    V(
        "overlap-0.85",
        "shipped",
        "overlap-anywhere at detector threshold 0.85 instead of 0.6",
        {"overlap": {"turn_window": 0.0, "threshold": 0.85}},
    ),
    V(
        "previous",
        "previous",
        "previous encoder (encoder-v1) with its defaults (the learned threshold, 0.2 s padding, "
        "no level floor gates, no low-passed listen, no overlap detector)",
        {
            "cluster": {"count": "threshold", "narrowband_count": "scaled"},
            "vad": {"pad": 0.2, "floor_db": 0.0, "pad_floor_db": 0.0, "lowpass_hz": 0.0},
            "overlap": {"enabled": False},
        },
    ),
    V("mfcc", "mfcc", "MFCC statistics, same clustering, tuned threshold", threshold="tuned"),
    V(
        "resemblyzer",
        "resemblyzer",
        "Resemblyzer (supervised) in the same pipeline, tuned threshold",
        threshold="tuned",
    ),
    V(
        "resemblyzer-oracle",
        "resemblyzer",
        "Resemblyzer in the same pipeline, speaker count from the reference",
        oracle=True,
    ),
]


def simulation(domain: str, seed: int = 0, num_files: int = 8):
    from diarize.simulate import SimulationConfig

    prefix = domain.replace("-8k", "")
    return SimulationConfig(
        num_files=num_files,
        minutes=2.0,
        seed=seed,
        min_speakers=2,
        max_speakers=6,
        overlap=(0.0, 0.2),
        snr_db=(5.0, 20.0),
        prefix=prefix,
        room="image",
        rt60=(0.2, 0.8),
        speaker_counts=(2, 3, 4, 5, 6, 2, 3, 4),
    )


def held_out_speakers(log) -> Path | None:
    """A folder of links to the held-out speechocean762 recordings (made once)."""
    from benchmarks.encoder.heldout_split import split_speakers

    if not SO762.is_dir():
        log(f"[so762] skipped: {SO762} not found")
        return None
    folder = CACHE / f"so762-held{HELD_SPEAKERS}-s{SPLIT_SEED}"
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    files = [p for p in SO762.iterdir() if p.suffix == ".opus"]
    _, held = split_speakers(files, HELD_SPEAKERS, SPLIT_SEED)
    folder.mkdir(parents=True, exist_ok=True)
    for path in held:
        (folder / path.name).symlink_to(path.resolve())
    return folder


def synthetic_set(name: str, config, source: Path, log) -> Path:
    """The simulated set under scratch/bench/ (made once): synthetic noise and rooms only."""
    folder = der.ensure_simulated(name, config, log, source=source, recorded=False)
    assert folder is not None  # the callers checked that the source is there
    return folder


def telephone_channel(x: np.ndarray, rate: int) -> np.ndarray:
    """A telephone channel: 300-3400 Hz band (4th-order Butterworth), 8 kHz, 8-bit G.711
    mu-law. ``x`` (num_samples,) at ``rate`` (a multiple of 8 kHz) -> float32 at 8 kHz."""
    from scipy.signal import butter, resample_poly, sosfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    y = np.clip(sosfilt(sos, resample_poly(np.asarray(x, np.float64), 1, rate // 8000)), -1, 1)
    mu = 255.0
    code = np.round(np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu) * 127.0) / 127.0
    return (np.sign(code) * np.expm1(np.abs(code) * np.log1p(mu)) / mu).astype(np.float32)


def telephone_at_16k(x: np.ndarray) -> np.ndarray:
    """16 kHz audio through :func:`telephone_channel`, back at 16 kHz as the pipeline reads
    an 8 kHz file."""
    from diarize import audio as audio_io

    return audio_io.resample(telephone_channel(x, 16000), 8000, 16000).astype(np.float32)


def telephone(src: Path, dst: Path) -> Path:
    """``src`` (a simulated set) through :func:`telephone_channel` into ``dst`` (8-kHz
    16-bit WAV, the same references)."""
    import shutil

    import soundfile as sf

    if (dst / "all.lst").exists():
        return dst
    for sub in ("wav", "rttm", "uem"):
        (dst / sub).mkdir(parents=True, exist_ok=True)
    for wav in sorted((src / "wav").glob("*.wav")):
        x, rate = sf.read(str(wav), dtype="float64")
        sf.write(str(dst / "wav" / wav.name), telephone_channel(x, rate), 8000, subtype="PCM_16")
    for sub in ("rttm", "uem"):
        for f in (src / sub).iterdir():
            shutil.copy(f, dst / sub / f.name)
    shutil.copy(src / "simulation.json", dst / "simulation.json")
    shutil.copy(src / "all.lst", dst / "all.lst")
    return dst


def domain_sets(
    wanted: list[str], log, seed: int = 0
) -> tuple[dict[str, list[Item]], dict[str, str]]:
    """The domains' files, and a line describing each. ``seed`` draws the simulated
    conversations (0: the benchmark's own; another: a second draw of the same voices, in
    folders of their own); dev/ami is the same at every seed."""
    tag = "" if seed == 0 else f"-seed{seed}"
    sets: dict[str, list[Item]] = {}
    notes: dict[str, str] = {}
    if "ami" in wanted:
        ami = DATA / "dev" / "ami"
        if (ami / "all.lst").exists():
            sets["ami"] = load_set(ami)
            notes["ami"] = "12 real AMI meeting excerpts of 30 s (1-4 talkers), reference UEM"
        else:
            log(f"[ami] skipped: {ami} not found")
    held = held_out_speakers(log) if {"so762", "so762-8k"} & set(wanted) else None
    if held is not None:
        folder = synthetic_set(f"so762{tag}", simulation("so762", seed), held, log)
        if "so762" in wanted:
            sets["so762"] = load_set(folder)
            notes["so762"] = _describe(folder, f"{HELD_SPEAKERS} held-out speechocean762 voices")
        if "so762-8k" in wanted:
            tel = telephone(folder, folder.with_name(folder.name + "-8k"))
            sets["so762-8k"] = load_set(tel)
            notes["so762-8k"] = "the so762 files through 300-3400 Hz, 8 kHz, G.711 mu-law"
    if "testother" in wanted:
        if TESTOTHER.is_dir():
            folder = synthetic_set(f"testother{tag}", simulation("testother", seed), TESTOTHER, log)
            sets["testother"] = load_set(folder)
            notes["testother"] = _describe(folder, "the 10 LibriSpeech test-other voices")
        else:
            log(f"[testother] skipped: {TESTOTHER} not found")
    if tag:
        for name in notes:
            if name != "ami":
                notes[name] += f"; conversations drawn with seed {seed}"
    return sets, notes


def _tuning_folders(log) -> list[Path]:
    """3 files of each simulated 16-kHz domain at another seed, one folder per domain."""
    folders = []
    held = held_out_speakers(log)
    if held is not None:
        folders.append(synthetic_set("so762-tune", simulation("so762", SEED_TUNING, 3), held, log))
    if TESTOTHER.is_dir():
        folders.append(
            synthetic_set("testother-tune", simulation("testother", SEED_TUNING, 3), TESTOTHER, log)
        )
    return folders


def tuning_items(log) -> list[Item] | None:
    """3 files of each simulated 16-kHz domain at another seed (thresholds of tuned rows)."""
    items = [item for folder in _tuning_folders(log) for item in load_set(folder)]
    return items or None


def telephone_tuning_items(log) -> list[Item]:
    """The tuning set through :func:`telephone_channel`: where rules for telephone-band input
    are chosen (the so762-8k domain is never tuned on)."""
    return [
        item
        for folder in _tuning_folders(log)
        for item in load_set(telephone(folder, folder.with_name(folder.name + "-8k")))
    ]


def all_domains(domains, log) -> dict[str, list[Item]] | None:
    """Every one of ``domains``; None (after a message) when a domain's data is absent."""
    sets, _ = domain_sets(list(domains), log)
    missing = [d for d in domains if d not in sets]
    if missing:
        log(f"needs ../shared/data: {', '.join(missing)} not found")
        return None
    return sets


def sets_with_tuning(domains, log) -> dict[str, list[Item]] | None:
    """:func:`all_domains` and, under "tuning", the tuning set."""
    sets = all_domains(domains, log)
    if sets is not None:
        sets["tuning"] = tuning_items(log) or []
    return sets


def item_waveform(item: Item) -> np.ndarray:
    """The item's audio as the pipeline reads it: 16 kHz int16, quiet files raised."""
    from diarize import audio as audio_io

    waveform = audio_io.load(item.wav, 16000, dtype="int16")
    return audio_io.raise_quiet(waveform, in_place=True)[0]


def _describe(folder: Path, voices: str) -> str:
    info = json.loads((folder / "simulation.json").read_text())
    files = info["files"]
    spk = [len(f["speakers"]) for f in files]
    ov = [f["overlap"] for f in files]
    rt = [f["room"]["rt60"] for f in files]
    return (
        f"{len(files)} simulated conversations of {voices} ({info['total_minutes']:.1f} min; "
        f"{min(spk)}-{max(spk)} talkers, overlap {100 * min(ov):.0f}-{100 * max(ov):.0f} %, "
        f"image-method rooms RT60 {min(rt):.2f}-{max(rt):.2f} s, synthetic noise)"
    )


class Encoders(der.Encoders):
    """The benchmark's encoders plus ``previous``: the encoder shipped before this one."""

    def _build(self, name: str):
        if name == "previous":
            from diarize.encoder import load_encoder

            if not PREVIOUS_MODEL.exists():
                raise der.Unavailable(f"{PREVIOUS_MODEL} not found")
            self.notes[name] = f"`{PREVIOUS_MODEL.relative_to(ROOT)}`"
            return load_encoder(PREVIOUS_MODEL)
        return super()._build(name)


def single_speaker_outputs(files: list[dict]) -> str:
    """How many files that hold two or more talkers came out with one speaker (or none)."""
    multi = [f for f in files if f["ref_speakers"] >= 2]
    return f"{sum(f['hyp_speakers'] <= 1 for f in multi)}/{len(multi)}"


def summary_table(domains: list[str], rows: dict[str, dict[str, dict]]) -> list[str]:
    head = "| variant | " + " | ".join(domains) + " | mean |"
    lines = [head, "|---" * (len(domains) + 2) + "|"]
    for name, per in rows.items():
        cells, values = [], []
        for d in domains:
            s = per.get(d)
            if s is None:
                cells.append("-")
                continue
            values.append(s["der"])
            cells.append(f"{100 * s['der']:.1f}")
        mean = f"**{100 * np.mean(values):.1f}**" if len(values) == len(domains) else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
    return lines


def domain_table(rows: list[tuple[str, str, dict, list[dict]]]) -> list[str]:
    lines = [
        "| variant | threshold | DER | DER c.25 no-ovl | miss | FA | conf | spk \\|err\\| "
        "| spk exact | 1 spk on multi | RTF |",
        "|" + "---|" * 11,
    ]
    for name, thr, s, files in rows:
        lines.append(
            f"| {name} | {thr} | **{100 * s['der']:.1f}** | {100 * s['der_c5']:.1f} | "
            f"{100 * s['missed']:.1f} | {100 * s['false_alarm']:.1f} | "
            f"{100 * s['confusion']:.1f} | {s['count_error']:.2f} | "
            f"{100 * s['count_exact']:.0f} % | {single_speaker_outputs(files)} | {s['rtf']:.4f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default="ami,so762,so762-8k,testother")
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS))
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: shipped)")
    parser.add_argument("--config", default=None, help="pipeline TOML every variant starts from")
    parser.add_argument("--out", default=None, help=f"markdown report (default {REPORT})")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="an extra row: shipped encoder with config overrides, e.g. "
        'nme=\'{"cluster": {"count": "nme-sc"}}\' (repeatable)',
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="draw of the simulated conversations (default 0, the benchmark's own; another "
        "seed gives a second draw of the same voices, to see how much a figure moves)",
    )
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if (problem := seed_problem(args.seed)) is not None:
        parser.error(problem)
    variants = list(VARIANTS)
    for spec in args.extra:
        name, _, text = spec.partition("=")
        variants.append(V(name, "shipped", f"shipped with {text}", json.loads(text)))
    known = {v.name: v for v in variants}
    if args.list:
        print("domains: ami, so762, so762-8k, testother")
        for v in variants:
            print(f"{v.name:20s} {v.what}")
        return 0
    names = [n for n in args.variants.split(",") if n] + [s.partition("=")[0] for s in args.extra]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}")
    log = der.log_stderr
    import torch

    torch.set_num_threads(1)
    from diarize.config import load_config
    from diarize.pipeline import Pipeline

    base = load_config(args.config)
    tic = time.perf_counter()
    cmd = " ".join(["python -m benchmarks.crossdomain", *(argv or sys.argv[1:])])
    header = der.report_header("Cross-domain diarization error", cmd)  # git state at the start
    wanted = [d for d in args.domains.split(",") if d]
    sets, notes = domain_sets(wanted, log, args.seed)
    if not sets:
        log("nothing to run: no domain's data found")
        return 1
    chosen = [known[n] for n in dict.fromkeys(names)]
    tune = None
    if any(v.threshold == "tuned" or v.encoder == "mfcc" for v in chosen):
        tune = tuning_items(log)
    encoders = Encoders(args.model, log)
    runnable, skipped, tuned = [], {}, {}
    for v in chosen:
        try:
            enc = encoders.get(v.encoder)
        except der.Unavailable as exc:
            skipped[v.name] = str(exc)
            log(f"[{v.name}] skipped: {exc}")
            continue
        from benchmarks.encoders import MfccStats

        if isinstance(enc, MfccStats) and not enc.fitted:
            if tune is None:
                skipped[v.name] = "no tuning set"
                continue
            der.fit_mfcc(enc, tune, base)
        thr, source = None, "learned"
        if v.threshold == "tuned":
            if tune is None:
                skipped[v.name] = "no tuning set"
                continue
            log(f"[{v.name}] tuning the threshold on {len(tune)} files")
            tuned[v.name] = der.tune_threshold(Pipeline, v, enc, tune, False, log, base)
            thr, source = tuned[v.name]["threshold"], "tuned"
        runnable.append((v, enc, thr, source))

    rows: dict[str, dict[str, dict]] = {}
    tables: dict[str, list] = {}
    with der.memoized_vad():
        for domain, items in sets.items():
            for v, enc, thr, source in runnable:
                config = der.build_config(v, thr, base)
                pipeline = Pipeline(config, encoder=enc)
                value = thr if thr is not None else pipeline.scorer(config)[1]
                log(f"[{domain}] {v.name}")
                scores = der.run_set(
                    pipeline, items, v.oracle, log, v.name, v.speech, v.overlaps, v.labels
                )
                s = scores.summary()
                rows.setdefault(v.name, {})[domain] = s
                label = der.threshold_label(v, value, source)
                # the rule the pipeline counts with (the telephone domain is telephone-band)
                counted = pipeline.count_config(config, narrowband=domain.endswith("-8k"))
                if not v.oracle and "num_speakers" not in v.overrides.get("cluster", {}):
                    if counted.count == "vbx":
                        label = f"vbx (from the {counted.vbx_start} rule)"
                    elif counted.count != "threshold":
                        label = counted.count
                tables.setdefault(domain, []).append((v.name, label, s, scores.files))
                log(f"[{domain}] {v.name}: DER {100 * s['der']:.1f} %")
    elapsed = time.perf_counter() - tic
    domains = list(sets)
    lines = header
    lines += [
        der.run_time_line(elapsed),
        "- encoders: " + "; ".join(f"{k}: {v}" for k, v in encoders.notes.items()),
        "",
        "DER (%) from pyannote.metrics, collar 0 with overlap scored, corpus totals per domain; "
        "the mean weighs domains equally. Domains:",
        "",
    ]
    lines += [f"- **{d}**: {notes[d]}" for d in domains]
    lines += ["", "## Summary (DER %, collar 0)", "", *summary_table(domains, rows), ""]
    for name, info in tuned.items():
        lines.append(
            f"- {name}: threshold {info['threshold']:.4f} tuned on {len(tune or [])} files "
            f"(DER there {100 * info['der']:.1f} %)"
        )
    for name, why in skipped.items():
        lines.append(f"- {name}: skipped ({why})")
    for domain in domains:
        lines += ["", f"## {domain}", "", notes[domain], "", *domain_table(tables[domain])]
    lines += [
        "",
        "DER c.25 no-ovl: pyannote collar 0.5 (0.25 s each side), overlap skipped. "
        "spk |err|: mean absolute error of the speaker count; 1 spk on multi: files holding "
        "two or more talkers for which one speaker (or none) was output.",
    ]
    out = Path(args.out) if args.out else REPORT
    with contextlib.suppress(Exception):
        (CACHE / "crossdomain-details.json").write_text(
            json.dumps({d: {n: s for n, _, s, _ in t} for d, t in tables.items()}, default=str)
        )
    return der.write_report(out, lines)


if __name__ == "__main__":
    sys.exit(main())
