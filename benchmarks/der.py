"""Diarization error of the shipped pipeline and of baselines: same files, same run, one table.

    python -m benchmarks.der               # every set and variant -> benchmarks/reports/RESULTS.md
    python -m benchmarks.der --sets ami --variants shipped,mfcc,one-speaker
    python -m benchmarks.der --quick       # small sets -> scratch/bench/RESULTS-quick.md
    python -m benchmarks.der --list        # the variants and what they change

Sets (both need ../shared/data next to the repository; a set whose data is absent is skipped
with a message):

* ``ami``: ``dev/ami`` (12 real meeting excerpts of 30 s, reference RTTM and UEM).
* ``sim``: 15 simulated conversations of about 2.5 min (``diarize simulate``, seed 0; speakers
  of LibriSpeech test-other, which the encoder never trained on), generated into
  ``scratch/bench/`` on first use and reused while their configuration is unchanged.

Every variant is a ``Variant``: an encoder name, ``PipelineConfig`` overrides, a threshold rule
and whether the speaker count comes from the reference, so a new row is one line in
``VARIANTS``. A row whose requirement is missing (the shipped model, a PLDA back end, the
adaptation module, the ``resemblyzer`` package) is skipped and the reason is written down.

Thresholds. ``model``: the encoder's own value (the one learned by ``diarize fit-backend`` when
the checkpoint holds one, else the fixed default); a number: that value; ``tuned``: the value
that minimises corpus DER on a SEPARATE simulated tuning set (``diarize simulate``, seed 1, 6
files of 2 min), searched over 24 quantiles of the encoder's within-file window similarities
there plus the model value. Every baseline is tuned by that same rule, and the shipped encoder
gets a tuned row too; ``dev/ami`` is never used to choose anything.

Extras: ``score`` (pyannote.metrics) always; the adaptation rows need ``train`` (torch) and the
``resemblyzer`` row ``bench``; rows whose extra is missing are skipped with the reason.

Accuracy comes from ``diarize.scoring`` (pyannote.metrics) and JER from pyannote.metrics'
``JaccardErrorRate``. Corpus figures are sums of seconds over files divided by the sum of
reference speech, never means of per-file rates.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from diarize.cluster import DEFAULT_COSINE_THRESHOLD
from diarize.config import PipelineConfig, load_config, update_config
from diarize.encoder import EmbeddingModel
from diarize.errors import DiarizeError
from diarize.rttm import read_rttm, read_uem
from diarize.scoring import der_components
from diarize.types import Diarization

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "scratch" / "bench"
RESULTS = ROOT / "benchmarks" / "reports" / "RESULTS.md"


# --- variants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One row of the table."""

    name: str
    encoder: str  # "shipped", "mfcc", "random", "resemblyzer" or "constant"
    what: str
    overrides: dict = field(default_factory=dict)  # for diarize.config.update_config
    threshold: str | float = "model"  # "model", "tuned" or a number
    # True: num_speakers from the reference; "max": the reference's count as max_speakers
    # (the count left to the clustering below that bound)
    oracle: bool | str = False
    needs: str | None = None  # "plda" or "adapt": skipped when the model/tree lacks it
    speech: str = "detected"  # "reference": the reference's speech regions replace the detector
    # "reference": the reference's overlap regions replace the overlap detector's;
    # "reference-frames": its probabilities (1 in the overlap, 0 elsewhere)
    overlaps: str = "detected"
    # "reference": each window is given the reference speaker who talks most around it in
    # place of the clustering's label (a perfect encoder and clustering)
    labels: str = "clustered"

    def __post_init__(self) -> None:
        # a misspelt choice would otherwise run as another row silently (any truthy ``oracle``
        # as the exact count, any ``speech`` other than "reference" as detected)
        choices = {
            "oracle": (False, True, "max"),
            "speech": ("detected", "reference"),
            "overlaps": ("detected", "reference", "reference-frames"),
            "labels": ("clustered", "reference"),
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if not any(type(value) is type(a) and value == a for a in allowed):
                raise ValueError(f"variant {self.name!r}: {name}={value!r}, not one of {allowed}")


V, TUNED, FIXED = Variant, "tuned", DEFAULT_COSINE_THRESHOLD
NO_RESEG, PLDA = {"resegment": {"enabled": False}}, {"cluster": {"scoring": "plda"}}
ADAPT, ONE = {"adapt": {"enabled": True}}, {"cluster": {"num_speakers": 1}}
EIGEN = {"cluster": {"count": "eigengap"}}
GLOBAL_RESEG = {"resegment": {"local_horizon": 0.0}}
NO_GMM = {"resegment": {"gmm_rounds": 0}}
NO_PAD = {"vad": {"pad": 0.0}}
VARIANTS = [
    V("shipped", "shipped", "shipped pipeline, defaults"),
    V("shipped-tuned", "shipped", "shipped, threshold tuned as the baselines'", threshold=TUNED),
    V("no-reseg", "shipped", "shipped, no resegmentation", NO_RESEG),
    V(
        "no-gmm-pass",
        "shipped",
        "shipped, window-level resegmentation only (no MFCC second pass)",
        NO_GMM,
    ),
    V(
        "global-reseg",
        "shipped",
        "shipped, every speaker a candidate everywhere in resegmentation",
        GLOBAL_RESEG,
    ),
    V("no-pad", "shipped", "shipped, detected speech not padded ([vad] pad = 0)", NO_PAD),
    V("fixed-thr", "shipped", "shipped, fixed threshold instead of learned", threshold=FIXED),
    V("plda", "shipped", "shipped, PLDA scoring instead of cosine", PLDA, needs="plda"),
    V("adapt", "shipped", "shipped, adaptation on the recording", ADAPT, needs="adapt"),
    V("eigengap", "shipped", "shipped, speaker count by eigengap (--count eigengap)", EIGEN),
    V(
        "eigengap+adapt",
        "shipped",
        "shipped, eigengap count and adaptation",
        {**EIGEN, **ADAPT},
        needs="adapt",
    ),
    V("oracle-count", "shipped", "shipped, speaker count from the reference", oracle=True),
    V(
        "oracle-speech",
        "shipped",
        "shipped, the reference's speech regions instead of the detector (no pad)",
        NO_PAD,
        speech="reference",
    ),
    V(
        "oracle-speech+count",
        "shipped",
        "shipped, the reference's speech regions and speaker count",
        NO_PAD,
        oracle=True,
        speech="reference",
    ),
    V("one-speaker", "constant", "one speaker everywhere, same VAD", ONE),
    V("mfcc", "mfcc", "MFCC statistics, same clustering", threshold=TUNED),
    V("mfcc-oracle", "mfcc", "MFCC statistics, speaker count from the reference", oracle=True),
    V("mfcc-eigengap", "mfcc", "MFCC statistics, eigengap count", EIGEN),
    V("random", "random", "random-weights encoder, same clustering", threshold=TUNED),
    V("resemblyzer", "resemblyzer", "Resemblyzer (supervised reference)", threshold=TUNED),
    V("resemblyzer-eigengap", "resemblyzer", "Resemblyzer, eigengap count", EIGEN),
    V(
        "resemblyzer-oracle",
        "resemblyzer",
        "Resemblyzer, speaker count from the reference",
        oracle=True,
    ),
]


# --- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    uri: str
    wav: Path
    reference: Diarization
    uem: list[tuple[float, float]]
    duration: float


def load_set(folder: Path, limit: int | None = None) -> list[Item]:
    """A folder with ``all.lst`` and ``wav/``, ``rttm/``, ``uem/`` per file id."""
    import soundfile as sf

    uris = (folder / "all.lst").read_text(encoding="utf-8").split()[:limit]
    items = []
    for uri in uris:
        wav = folder / "wav" / f"{uri}.wav"
        info = sf.info(str(wav))
        duration = info.frames / info.samplerate
        reference = read_rttm(folder / "rttm" / f"{uri}.rttm").get(uri, Diarization(uri))
        uem_path = folder / "uem" / f"{uri}.uem"
        uem = read_uem(uem_path).get(uri) if uem_path.exists() else None
        items.append(Item(uri, wav, reference, uem or [(0.0, duration)], duration))
    return items


def log_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def report_header(title: str, command: str) -> list[str]:
    """The first lines of a markdown report: title, date, machine, git state, the versions of
    the numerical packages the figures depend on, command."""
    return [
        f"# {title}",
        "",
        f"- date: {dt.datetime.now():%Y-%m-%d %H:%M}",
        f"- machine: {machine()}",
        f"- git commit: {git_state()}",
        f"- packages: {package_versions()}",
        f"- command: `{command}`",
    ]


def run_time_line(elapsed: float) -> str:
    """The report line of a run's wall time (``elapsed`` seconds) and the machine's load at
    its end (a busy machine slows every timing of the report)."""
    return (
        f"- run time: {elapsed / 60:.1f} min wall; load average at the end {os.getloadavg()[0]:.1f}"
    )


#: the installed packages whose versions can move a figure (resampling, ONNX Runtime's
#: kernels, the scorer)
NUMERICAL_PACKAGES = ("numpy", "scipy", "onnxruntime", "torch", "soundfile", "pyannote.metrics")


def package_versions(names: tuple[str, ...] = NUMERICAL_PACKAGES) -> str:
    """ "name version" of each of ``names`` that is installed, comma-separated."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found) or "none of " + ", ".join(names)


def write_report(path: Path, lines: list[str]) -> int:
    """Write a markdown report (atomically) and echo it; the exit status for ``main``."""
    from diarize.rttm import write_atomic

    text = "\n".join(lines) + "\n"
    write_atomic(path, text)
    print(text)
    return 0


def dev_and_simulated_sets(log) -> dict[str, list[Item]]:
    """dev/ami (when ../shared is there) and the default simulated set (generated when
    absent), keyed "dev/ami" and "sim (<folder>)"; a set that is not available is skipped
    with a message, and so is the run when neither is."""
    from diarize.simulate import SimulationConfig

    sets: dict[str, list[Item]] = {}
    ami = DATA / "dev" / "ami"
    if (ami / "all.lst").exists():
        sets["dev/ami"] = load_set(ami)
    else:
        log(f"[ami] skipped: {ami} not found")
    folder = ensure_simulated("sim", SimulationConfig(), log)
    if folder is not None:
        sets[f"sim ({folder.relative_to(ROOT)})"] = load_set(folder)
    if not sets:
        log("nothing to run: no data set found")
    return sets


def tuning_simulation(quick: bool = False):
    """Configuration of the simulated tuning set: seed 1, 6 files of 2 min (3 of 1 min when
    ``quick``); thresholds and baseline statistics are chosen on it, never on dev/ami."""
    from diarize.simulate import SimulationConfig

    return SimulationConfig(num_files=3 if quick else 6, minutes=1.0 if quick else 2.0, seed=1)


def ensure_simulated(
    name: str, config, log, source: Path | None = None, recorded: bool = True
) -> Path | None:
    """The simulated set for ``config`` under scratch/bench/, generated when absent: voices
    from ``source`` (default: LibriSpeech test-other), with the recorded noise and room
    responses of ../shared/data when ``recorded`` (else synthetic noise and rooms only)."""
    from diarize.simulate import DEFAULT_NOISE, DEFAULT_RIR, DEFAULT_SOURCE, simulate

    source = DEFAULT_SOURCE if source is None else source
    folder = CACHE / f"{name}-s{config.seed}-n{config.num_files}-m{config.minutes:g}"
    stamp = folder / "simulation.json"
    wanted = json.loads(json.dumps(dataclasses.asdict(config)))
    if stamp.exists() and json.loads(stamp.read_text())["config"] == wanted:
        return folder
    if not source.is_dir():
        log(f"[{name}] skipped: {source} not found (the simulated set needs it)")
        return None
    log(f"[{name}] generating {config.num_files} files of ~{config.minutes:g} min into {folder}")
    simulate(
        folder,
        config,
        source=source,
        noise_dir=DEFAULT_NOISE if recorded and DEFAULT_NOISE.is_dir() else None,
        rir_dir=DEFAULT_RIR if recorded and DEFAULT_RIR.is_dir() else None,
        progress=lambda line: log(f"  {line}"),
    )
    return folder


# --- encoders ---------------------------------------------------------------------------------


class Unavailable(Exception):
    """A variant cannot run here; the message says why."""


class Encoders:
    """Builds each encoder once, on first use; remembers why one cannot be built."""

    def __init__(self, model: str | None, log):
        self.model = model
        self.log = log
        self.built: dict[str, EmbeddingModel] = {}
        self.failed: dict[str, str] = {}
        self.notes: dict[str, str] = {}

    def get(self, name: str) -> EmbeddingModel:
        if name in self.failed:
            raise Unavailable(self.failed[name])
        if name not in self.built:
            try:
                self.built[name] = self._build(name)
            except Unavailable as exc:
                self.failed[name] = str(exc)
                raise
        return self.built[name]

    def _build(self, name: str) -> EmbeddingModel:
        if name == "shipped":
            from diarize.encoder import load_encoder, sha256sum

            try:
                enc = load_encoder(self.model)
            except DiarizeError as exc:
                raise Unavailable(f"no shipped model: {exc}") from None
            path = enc.meta.get("path", "")
            learned = "cosine_threshold" in enc.extra
            self.notes[name] = (
                f"`{Path(path).relative_to(ROOT) if Path(path).is_relative_to(ROOT) else path}` "
                f"(sha256 {sha256sum(path)[:12]}), "
                + ("learned cosine threshold" if learned else "no learned threshold")
                + (", default count VBx" if "plda" in enc.extra else "")
                + (", PLDA back end" if "plda" in enc.extra else ", no PLDA back end")
            )
            return enc
        if name == "random":
            from diarize.encoder import random_encoder

            self.notes[name] = "`random_encoder(0)`: shipped architecture, untrained"
            return random_encoder(0)
        if name == "constant":
            from benchmarks.encoders import ConstantEncoder

            return ConstantEncoder()
        if name == "mfcc":
            why = "diarize.baselines is not in this tree"
            if importlib.util.find_spec("diarize.baselines") is not None:
                try:
                    from diarize.baselines import MfccStatsEncoder

                    enc = MfccStatsEncoder()
                    self.notes[name] = "`diarize.baselines.MfccStatsEncoder()`"
                    return enc
                except Exception as exc:  # a module being written may not import yet
                    why = f"diarize.baselines.MfccStatsEncoder() failed: {exc}"
            from benchmarks.encoders import MfccStats

            self.notes[name] = (
                "`benchmarks.encoders.MfccStats` (" + why + "): mean+std of c1-c20 over the "
                "window, standardised with statistics of the sim-tune windows (no labels)"
            )
            return MfccStats()
        if name == "resemblyzer":
            try:
                from benchmarks.encoders import ResemblyzerEncoder

                enc = ResemblyzerEncoder()
            except ImportError as exc:
                raise Unavailable(f"resemblyzer is not installed ({exc})") from None
            from importlib.metadata import version

            self.notes[name] = (
                f"Resemblyzer {version('resemblyzer')} `VoiceEncoder` (weights in the wheel, "
                "offline), each window embedded on its own, no silence trimming"
            )
            return enc
        raise ValueError(f"unknown encoder {name!r}")


class Memo(EmbeddingModel):
    """Remembers ``embed_windows`` results (threshold search only; never in timed runs)."""

    def __init__(self, inner: EmbeddingModel):
        self.inner = inner
        self.dim, self.sample_rate, self.name = inner.dim, inner.sample_rate, inner.name
        self.extra = getattr(inner, "extra", {})
        self.cache: dict[tuple[str, str], np.ndarray] = {}

    def embed(self, waveforms):
        return self.inner.embed(waveforms)

    def embed_windows(self, waveform, bounds, batch_size=64, chunk=120.0):
        key = (_digest(waveform), _digest(bounds))
        if key not in self.cache:
            self.cache[key] = self.inner.embed_windows(waveform, bounds, batch_size, chunk)
        return self.cache[key]


def _digest(array) -> str:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).hexdigest()


@contextlib.contextmanager
def _attribute_replaced(module, name: str, make):
    """While active, ``module.name`` is ``make(original)``."""
    original = getattr(module, name)
    setattr(module, name, make(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def speech_detection_replaced(make):
    """While active, the pipeline's speech detection is ``make(original)``."""
    import diarize.embed as embed_module  # the pipeline's detect_regions calls it there

    return _attribute_replaced(embed_module, "speech_regions", make)


def memoized_vad():
    """Speech detection computed once per signal while thresholds are searched."""
    cache: dict[tuple[str, str], np.ndarray] = {}

    def make(original):
        def cached(signal, config, sample_rate=16000, *args, **kwargs):
            key = (_digest(signal), repr(config))
            if key not in cache:
                cache[key] = original(signal, config, sample_rate, *args, **kwargs)
            return cache[key].copy()

        return cached

    return speech_detection_replaced(make)


def reference_speech_regions(item: Item, num_samples: int, sample_rate: int = 16000) -> np.ndarray:
    """The reference's speech within the UEM as sorted, merged [start, end) samples."""
    from diarize.vad import pad_regions

    spans = []
    for turn in item.reference.turns:
        for us, ue in item.uem:
            a, b = max(turn.start, us), min(turn.end, ue)
            if b > a:
                spans.append((round(a * sample_rate), round(b * sample_rate)))
    return pad_regions(sorted(spans), 0.0, num_samples, sample_rate)  # clipped and merged


def reference_speech(item: Item):
    """While active, the pipeline's speech detection returns ``item``'s reference speech."""

    def oracle(signal, config, sample_rate=16000, *args, **kwargs):
        return reference_speech_regions(item, len(signal), sample_rate)

    return speech_detection_replaced(lambda original: oracle)


def reference_overlaps(item: Item, sample_rate: int = 16000):
    """While active, the overlap regions of ``--overlap`` are the reference's (a perfect
    overlap detector); the pipeline's second-speaker rule is unchanged."""
    import diarize.overlap as overlap_module  # the pipeline imports it from there per call

    bounds = np.array(
        [
            [round(s * sample_rate), round(e * sample_rate)]
            for s, e in overlap_regions(item.reference, item.uem)
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    return _attribute_replaced(
        overlap_module, "overlap_regions", lambda original: lambda *a, **k: bounds.copy()
    )


def reference_overlap_probabilities(item: Item, sample_rate: int = 16000):
    """While active, the overlap detector's probability is 1 in the frames whose centre lies
    in an overlap region of the reference and 0 elsewhere (a perfect detector): the
    pipeline's whole rule (threshold, turn window) still applies to it."""
    import diarize.overlap as overlap_module
    from diarize.features import LogMel

    regions = overlap_regions(item.reference, item.uem)

    def perfect(waveform, *args, **kwargs) -> np.ndarray:
        front = LogMel(overlap_module.OVERLAP_FEATURES)
        num_frames = front.num_frames(len(waveform))
        hop = front.hop_samples
        centres = (np.arange(num_frames) * hop + front.win_samples // 2) / sample_rate
        probs = np.zeros(num_frames, dtype=np.float32)
        for start, end in regions:
            probs[(centres >= start) & (centres < end)] = 1.0
        return probs

    return _attribute_replaced(overlap_module, "overlap_probability", lambda original: perfect)


def window_reference_labels(item: Item, centres: np.ndarray, half_width: float) -> np.ndarray:
    """(num_windows,) int64: for each window centre (seconds), the index (in sorted name
    order) of the reference speaker who talks most within ``half_width`` seconds of it; a
    window with no reference speech there takes the label of the nearest window that has
    some; all 0 when none has any. Labels are renumbered 0 .. k-1 in order of value."""
    centres = np.asarray(centres, dtype=np.float64)
    names = sorted(item.reference.speakers)
    talk = np.zeros((len(centres), len(names)))
    for turn in item.reference.turns:
        k = names.index(turn.speaker)
        lo, hi = centres - half_width, centres + half_width
        talk[:, k] += np.clip(np.minimum(hi, turn.end) - np.maximum(lo, turn.start), 0.0, None)
    if not len(centres) or not names or not (talk.max(axis=1) > 0).any():
        return np.zeros(len(centres), dtype=np.int64)
    labels = talk.argmax(axis=1)
    heard = np.flatnonzero(talk.max(axis=1) > 0)
    for i in np.flatnonzero(talk.max(axis=1) <= 0):
        labels[i] = labels[heard[np.argmin(np.abs(centres[heard] - centres[i]))]]
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def reference_labels(item: Item, half_width: float = 0.75):
    """While active, the pipeline's clustering gives every window
    :func:`window_reference_labels` (``half_width``: half the default 1.5-s window): a perfect
    encoder and clustering, with the speech detector, resegmentation, overlap and output
    rules as they are. Needs the window centres the pipeline passes to ``cluster`` (every
    window clustered: ``[cluster] overlap_exclude`` off, as by default)."""
    import diarize.pipeline as pipeline_module

    def perfect(embeddings, *args, centres=None, **kwargs):
        if not len(embeddings):
            return np.zeros(0, dtype=np.int64)
        if centres is None or len(centres) != len(embeddings):
            raise ValueError(
                f"oracle labels need the centre of every clustered window "
                f"({0 if centres is None else len(centres)} centres, {len(embeddings)} windows)"
            )
        return window_reference_labels(item, centres, half_width)

    return _attribute_replaced(pipeline_module, "cluster", lambda original: perfect)


# --- scoring ----------------------------------------------------------------------------------


def overlap_regions(reference: Diarization, uem) -> list[tuple[float, float]]:
    """Where two or more reference speakers talk, inside the UEM."""
    events = sorted(
        [(t.start, 1) for t in reference.turns] + [(t.end, -1) for t in reference.turns]
    )
    out, active, start = [], 0, 0.0
    for time_, delta in events:
        if active < 2 <= active + delta:
            start = time_
        elif active >= 2 > active + delta and time_ > start:
            out.append((start, time_))
        active += delta
    clipped = []
    for s, e in out:
        for us, ue in uem:
            a, b = max(s, us), min(e, ue)
            if b > a:
                clipped.append((a, b))
    return clipped


class Scores:
    """Corpus totals for one (set, variant)."""

    def __init__(self):
        from pyannote.metrics.diarization import JaccardErrorRate

        self.sums: dict[str, float] = {}
        self.jer = JaccardErrorRate(collar=0.0, skip_overlap=False)
        self.count_errors: list[int] = []
        self.wall = self.cpu = self.audio = 0.0
        self.failures: list[str] = []
        self.files: list[dict] = []

    def add(self, item: Item, hyp: Diarization, wall: float, cpu: float) -> dict:
        ref, uem = item.reference, item.uem
        c0 = der_components(ref, hyp, collar=0.0, skip_overlap=False, uem=uem)
        c5 = der_components(ref, hyp, collar=0.5, skip_overlap=True, uem=uem)
        regions = overlap_regions(ref, uem)
        ov = der_components(ref, hyp, uem=regions) if regions else dict.fromkeys(c0, 0.0)
        row = {f"{k}": v for k, v in c0.items()}
        row.update({f"c5_{k}": v for k, v in c5.items()})
        row.update({f"ovl_{k}": v for k, v in ov.items()})
        for k, v in row.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.jer(ref.to_annotation(), hyp.to_annotation(), uem=_timeline(uem, item.uri))
        self.count_errors.append(hyp.num_speakers - ref.num_speakers)
        self.wall += wall
        self.cpu += cpu
        self.audio += item.duration
        der = (c0["missed"] + c0["false_alarm"] + c0["confusion"]) / max(c0["total"], 1e-9)
        record = {"uri": item.uri, "der": der, "ref_speakers": ref.num_speakers}
        record.update(hyp_speakers=hyp.num_speakers, wall=wall, **row)
        self.files.append(record)
        return record

    def summary(self) -> dict:
        s = self.sums
        total, total5 = max(s.get("total", 0.0), 1e-9), max(s.get("c5_total", 0.0), 1e-9)
        err = np.abs(np.asarray(self.count_errors, dtype=float))
        return {
            "der": (s["missed"] + s["false_alarm"] + s["confusion"]) / total,
            "der_c5": (s["c5_missed"] + s["c5_false_alarm"] + s["c5_confusion"]) / total5,
            "jer": abs(self.jer),
            "missed": s["missed"] / total,
            "false_alarm": s["false_alarm"] / total,
            "confusion": s["confusion"] / total,
            "in_overlap": (s["ovl_missed"] + s["ovl_false_alarm"] + s["ovl_confusion"]) / total,
            "missed_in_overlap": s["ovl_missed"] / total,
            "count_error": float(err.mean()),
            "count_exact": float(np.mean(err == 0)),
            "rtf": self.wall / max(self.audio, 1e-9),
            "rtf_cpu": self.cpu / max(self.audio, 1e-9),
            "files": len(self.files),
            "failures": list(self.failures),
        }


def _timeline(uem, uri):
    from pyannote.core import Segment, Timeline

    return Timeline([Segment(s, e) for s, e in uem], uri=uri)


def reference_stats(items: list[Item]) -> dict:
    """Speech, overlap, and the least a one-speaker-per-frame output must miss."""
    speech = overlap = excess = 0.0
    for item in items:
        events = sorted(
            [(t.start, 1) for t in item.reference.turns]
            + [(t.end, -1) for t in item.reference.turns]
        )
        active, last = 0, 0.0
        for time_, delta in events:
            span = time_ - last
            speech += span * active
            if active >= 2:
                overlap += span
                excess += span * (active - 1)
            active += delta
            last = time_
    return {
        "files": len(items),
        "minutes": sum(i.duration for i in items) / 60,
        "speech_minutes": speech / 60,
        "overlap_share": excess / max(speech, 1e-9),
        "speakers": sorted({i.reference.num_speakers for i in items}),
    }


# --- running ----------------------------------------------------------------------------------


def build_config(
    variant: Variant, threshold: float | None, base: PipelineConfig | None = None
) -> PipelineConfig:
    """``base`` (default: the pipeline's defaults) with the variant's overrides."""
    overrides = json.loads(json.dumps(variant.overrides))
    if threshold is not None:
        overrides.setdefault("cluster", {})["threshold"] = float(threshold)
    return update_config(base or PipelineConfig(), overrides)


def run_set(
    pipeline,
    items: list[Item],
    oracle: bool | str,
    log,
    label: str,
    speech: str = "detected",
    overlaps: str = "detected",
    labels: str = "clustered",
) -> Scores:
    """Diarize every file with ``pipeline`` (timed) and score it, given the reference's
    speaker count when ``oracle`` is true (as ``max_speakers`` when it is "max"); with
    ``speech`` = "reference" the reference's speech regions replace the detector's, with
    ``overlaps`` = "reference" the reference's overlap regions replace the overlap detector's
    (which the pipeline's configuration must enable), with "reference-frames" its
    probabilities; with ``labels`` = "reference" every window gets the reference speaker
    around it (:func:`reference_labels`) instead of the clustering's label."""
    scores = Scores()
    # Warm-up on a short excerpt so one-off costs (JIT, lazy loads) are not billed to file 1.
    import soundfile as sf

    first, _ = sf.read(str(items[0].wav), dtype="float32", frames=10 * 16000)
    with contextlib.suppress(DiarizeError):
        pipeline(first, uri="warmup", num_speakers=2 if oracle is True else None)
    for item in items:
        num = (item.reference.num_speakers or None) if oracle else None
        given = {"max_speakers": num} if oracle == "max" else {"num_speakers": num}
        tic, cpu = time.perf_counter(), time.process_time()
        regions = reference_speech(item) if speech == "reference" else contextlib.nullcontext()
        overlapped = {
            "reference": reference_overlaps,
            "reference-frames": reference_overlap_probabilities,
        }.get(overlaps, lambda _: contextlib.nullcontext())(item)
        labelled = reference_labels(item) if labels == "reference" else contextlib.nullcontext()
        try:
            with regions, overlapped, labelled:
                hyp = pipeline(item.wav, uri=item.uri, **given)
        except DiarizeError as exc:
            scores.failures.append(f"{item.uri}: {exc}")
            hyp = Diarization(item.uri, (), item.duration)
        wall, cpu = time.perf_counter() - tic, time.process_time() - cpu
        rec = scores.add(item, hyp, wall, cpu)
        log(
            f"  {label} {item.uri}: DER {100 * rec['der']:5.1f} %  speakers "
            f"{rec['hyp_speakers']}/{rec['ref_speakers']}  {wall:5.1f} s"
        )
    return scores


def tune_threshold(pipeline_cls, variant, encoder, items, quick, log, config=None) -> dict:
    """Minimise corpus DER (collar 0, overlap scored) on ``items`` over a similarity grid."""
    memo = Memo(encoder)
    base = build_config(variant, None, config)
    pipeline = pipeline_cls(base, encoder=memo)
    similarity, default = pipeline.scorer(base)

    def corpus_der(threshold: float) -> float:
        p = pipeline_cls(build_config(variant, threshold, config), encoder=memo)
        err = tot = 0.0
        for item in items:
            try:
                hyp = p(item.wav, uri=item.uri)
            except DiarizeError:
                hyp = Diarization(item.uri, (), item.duration)
            c = der_components(item.reference, hyp, uem=item.uem)
            err += c["missed"] + c["false_alarm"] + c["confusion"]
            tot += c["total"]
        return err / max(tot, 1e-9)

    with memoized_vad():
        curve = {float(default): corpus_der(default)}  # also fills the caches
        sims = []
        for emb in memo.cache.values():
            if len(emb) > 1:
                s = similarity(emb)
                sims.append(s[np.triu_indices(len(emb), 1)])
        pooled = np.concatenate(sims) if sims else np.array([default])
        qs = np.linspace(0.04, 0.96, 12 if quick else 24)
        for t in np.unique(np.round(np.quantile(pooled, qs), 4)):
            if float(t) not in curve:
                curve[float(t)] = corpus_der(float(t))
    best = min(curve.values())
    ties = sorted(t for t, v in curve.items() if v <= best + 1e-9)
    chosen = ties[len(ties) // 2]
    log(
        f"  [{variant.name}] tuned threshold {chosen:.4f}: sim-tune DER {100 * best:.1f} % "
        f"(model value {default:.3f}: {100 * curve[float(default)]:.1f} %)"
    )
    return {"threshold": chosen, "der": best, "default": default, "default_der": curve[default]}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from diarize.encoder import get_num_threads

    runtimes = [
        f"{name} {sys.modules[name].__version__}"
        for name in ("onnxruntime", "torch")
        if name in sys.modules
    ]
    return (
        f"{cpu}, {os.cpu_count()} cores, {', '.join(runtimes)} with "
        f"{get_num_threads() or 'default'} thread(s), Python {platform.python_version()}"
    )


def measured_code(path: str) -> bool:
    """Whether a change to ``path`` (relative to the repository) can change what a benchmark
    measures: the package, the models, and the benchmarks' own code (not their reports)."""
    if path.startswith("benchmarks/reports/"):
        return False
    return path.startswith(("diarize/", "models/", "benchmarks/"))


def git_state() -> str:
    """The commit, and the files of :func:`measured_code` changed since it."""

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.rstrip()  # porcelain lines start with a status column that may be blank

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [
        line[3:]
        for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
        if measured_code(line[3:])
    ]
    return f"`{commit}`" + (f" + uncommitted changes to {', '.join(dirty)}" if dirty else "")


# --- report -----------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def threshold_label(variant: Variant, value: float | None, source: str) -> str:
    if variant.oracle == "max":
        return "vbx, at most the oracle count"
    if variant.oracle:
        return "oracle count"
    if variant.labels == "reference":
        return "reference labels"
    if variant.overrides.get("cluster", {}).get("num_speakers") == 1:
        return "1 speaker"
    if variant.overrides.get("cluster", {}).get("count") == "eigengap":
        return "eigengap count"
    return f"{value:.3f} ({source})" if value is not None else source


def table(rows: list[tuple[Variant, str, dict]]) -> list[str]:
    head = (
        "| variant | threshold | DER | DER c.25 no-ovl | JER | miss | FA | conf | in overlap "
        "| spk \\|err\\| | spk exact | RTF wall | RTF CPU |"
    )
    lines = [head, "|" + "---|" * 13]
    for variant, thr, s in rows:
        fail = f" ({len(s['failures'])} failed)" if s["failures"] else ""
        lines.append(
            f"| {variant.name}{fail} | {thr} | **{_pct(s['der'])}** | {_pct(s['der_c5'])} | "
            f"{_pct(s['jer'])} | {_pct(s['missed'])} | {_pct(s['false_alarm'])} | "
            f"{_pct(s['confusion'])} | {_pct(s['in_overlap'])} ({_pct(s['missed_in_overlap'])}) "
            f"| {s['count_error']:.2f} | {100 * s['count_exact']:.0f} % | {s['rtf']:.4f} | "
            f"{s['rtf_cpu']:.4f} |"
        )
    return lines


def per_file(rows, details, set_name) -> list[str]:
    names = [v.name for v, _, _ in rows]
    files = [f["uri"] for f in details[f"{set_name}/{names[0]}"]["files"]]
    lines = ["| file | ref spk | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for i, uri in enumerate(files):
        recs = [details[f"{set_name}/{n}"]["files"][i] for n in names]
        cells = [f"{100 * r['der']:.1f} ({r['hyp_speakers']})" for r in recs]
        lines.append(f"| {uri} | {recs[0]['ref_speakers']} | " + " | ".join(cells) + " |")
    lines += ["", "(in brackets: the number of speakers found)"]
    return lines


def simulated_file(item: Item) -> dict | None:
    """The record of ``item`` in its simulated set's simulation.json (speakers, noise, room,
    ...), or None when the item is not from a simulated set."""
    return _simulation_files(item.wav.parent.parent / "simulation.json").get(item.uri)


@functools.lru_cache(maxsize=32)
def _simulation_files(path: Path) -> dict[str, dict]:
    """uri -> record of one simulation.json (read once); empty when there is none."""
    if not path.exists():
        return {}
    return {f["uri"]: f for f in json.loads(path.read_text())["files"]}


def describe_sim(folder: Path, command: str) -> str:
    info = json.loads((folder / "simulation.json").read_text())
    files = info["files"]
    ov = [f["overlap"] for f in files]
    snr = [f["snr_db"] for f in files]
    rooms = sum(f["room"]["kind"] == "real" for f in files)
    noise = sorted({k.split("(")[0] for f in files for k in f["noise"]})
    return (
        f"Generated by `{command}` from {info['source']}: overlap {100 * min(ov):.1f}-"
        f"{100 * max(ov):.1f} % per file (mean {100 * np.mean(ov):.1f} %), SNR "
        f"{min(snr):.1f}-{max(snr):.1f} dB, {rooms} real and {len(files) - rooms} simulated "
        f"rooms, noise kinds: {', '.join(noise)}."
    )


def report(
    args, sets, results, tuned, skipped, encoders, started, elapsed, loads, details, descriptions
) -> str:
    out = ["# Diarization error: shipped pipeline and baselines", ""]
    out += [
        f"- date: {started:%Y-%m-%d %H:%M}",
        f"- machine: {machine()}; load average {loads[0]:.1f} at the start, {loads[1]:.1f} "
        "at the end (the machine is shared: wall-clock RTF includes waiting for the CPU)",
        f"- git commit: {git_state()}",
        f"- command: `{' '.join(['python -m benchmarks.der', *sys.argv[1:]])}`",
        f"- total run time: {elapsed / 60:.1f} min wall",
    ]
    for name, note in sorted(encoders.notes.items()):
        out.append(f"- encoder `{name}`: {note}")
    if "shipped" in encoders.failed:
        out.append(f"- **shipped encoder: {encoders.failed['shipped']}**; its rows are skipped")
    out += [
        "",
        "Scoring: pyannote.metrics through `diarize.scoring`; corpus totals (sum of error "
        "seconds / sum of reference speech seconds), UEM applied. **DER**: collar 0, overlapped "
        "speech scored. **DER c.25 no-ovl**: pyannote `collar=0.5` (total width; md-eval "
        "`-c 0.25`) with `skip_overlap=True`. **JER**: Jaccard error rate, collar 0. miss / FA / "
        "conf: the DER components (they add up to DER). **in overlap**: DER points that fall in "
        "reference overlap (two or more speakers; speaker mapping optimised within those "
        "regions), in brackets the missed speech there. "
        "**spk |err|**: mean |hypothesis - reference| speaker count; **spk exact**: files with "
        "the right count. **RTF**: seconds of the whole pipeline call (load, VAD, embedding, "
        "clustering, resegmentation) per second of audio, wall clock and process CPU time "
        "(all threads), measured in this run; model loading is not included. Percentages "
        "are % of reference speech.",
        "",
        "Thresholds: `tuned` = the value minimising DER on the separate simulated tuning set "
        "(seed 1), searched over quantiles of each encoder's own window similarities: the same "
        "rule for every system; `model` = the encoder's own value (learned by `diarize "
        "fit-backend` when the checkpoint holds one, else the fixed default "
        f"{DEFAULT_COSINE_THRESHOLD}); `fixed` = that default. Nothing is tuned on dev/ami.",
    ]
    ran = {v.name: v for rows in results.values() for v, _, _ in rows}
    if ran:
        out += ["", "Variants:", ""]
        out += [f"- `{v.name}`: {v.what}" for v in ran.values()]
    for set_name, items in sets.items():
        st = reference_stats(items)
        out += ["", f"## {set_name}", ""]
        if set_name in descriptions:
            out += [descriptions[set_name], ""]
        out.append(
            f"{st['files']} files, {st['minutes']:.1f} min, {st['speech_minutes']:.1f} min of "
            f"reference speech, {'/'.join(map(str, st['speakers']))} speakers per file; "
            f"{_pct(st['overlap_share'])} % of reference speech is overlap beyond the first "
            "speaker (what one-speaker-per-frame output must miss at least)."
        )
        out.append("")
        rows = results.get(set_name, [])
        out += table(rows) if rows else ["(no row ran)"]
        if rows and set_name == "ami":
            out += ["", "DER per file (collar 0, overlap scored), %:", ""]
            out += per_file(rows, details, set_name)
    if tuned:
        out += ["", "## Threshold tuning (sim-tune: seed 1)", ""]
        out += ["| variant | tuned | sim-tune DER | model value | sim-tune DER at model value |"]
        out += ["|---|---|---|---|---|"]
        for name, t in tuned.items():
            out.append(
                f"| {name} | {t['threshold']:.4f} | {_pct(t['der'])} | {t['default']:.3f} | "
                f"{_pct(t['default_der'])} |"
            )
    if skipped:
        out += ["", "## Skipped", ""]
        out += [f"- `{name}`: {why}" for name, why in skipped.items()]
    return "\n".join(out).replace(f"{ROOT}/", "") + "\n"


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="ami,sim", help="comma-separated: ami, sim")
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS))
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: shipped)")
    parser.add_argument(
        "--config", default=None, help="pipeline TOML every variant starts from (default: defaults)"
    )
    parser.add_argument("--quick", action="store_true", help="small sets and grid (smoke test)")
    parser.add_argument(
        "--out", default=None, help="markdown output (default benchmarks/reports/RESULTS.md)"
    )
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="encoder threads (default 1: on a shared machine a second thread mostly waits)",
    )
    args = parser.parse_args(argv)
    if args.list:
        for v in VARIANTS:
            print(f"{v.name:20s} {v.what}")
        return 0
    log = lambda line: print(line, flush=True)  # noqa: E731
    known = {v.name: v for v in VARIANTS}
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(known)}")
    variants = [known[n] for n in names]
    wanted_sets = [s for s in args.sets.split(",") if s]
    if set(wanted_sets) - {"ami", "sim"}:
        parser.error("--sets takes ami and/or sim")
    out_path = (
        Path(args.out) if args.out else (CACHE / "RESULTS-quick.md" if args.quick else RESULTS)
    )

    base = load_config(args.config)  # the defaults when no file is given
    from diarize.encoder import set_num_threads

    set_num_threads(args.threads)
    from benchmarks.encoders import MfccStats
    from diarize.pipeline import Pipeline
    from diarize.simulate import SimulationConfig

    started, t_start, load0 = dt.datetime.now(), time.perf_counter(), os.getloadavg()[0]
    sets: dict[str, list[Item]] = {}
    if "ami" in wanted_sets:
        ami = DATA / "dev" / "ami"
        if (ami / "all.lst").exists():
            sets["ami"] = load_set(ami, 4 if args.quick else None)
        else:
            log(f"[ami] skipped: {ami} not found")
    sim_config = SimulationConfig(num_files=4, minutes=1.0) if args.quick else SimulationConfig()
    tune_config = tuning_simulation(args.quick)
    descriptions: dict[str, str] = {}
    if "sim" in wanted_sets:
        folder = ensure_simulated("sim", sim_config, log)
        if folder is not None:
            sets["sim"] = load_set(folder)
            descriptions["sim"] = describe_sim(
                folder,
                f"diarize simulate {folder.relative_to(ROOT)} --seed {sim_config.seed} "
                f"--num-files {sim_config.num_files} --minutes {sim_config.minutes:g}",
            )
    tune_items: list[Item] | None = None
    if any(v.threshold == "tuned" or v.encoder == "mfcc" for v in variants):
        folder = ensure_simulated("simtune", tune_config, log)
        tune_items = load_set(folder) if folder is not None else None
    if not sets:
        log("nothing to run: no data set found")
        return 1

    encoders = Encoders(args.model, log)
    skipped: dict[str, str] = {}
    tuned: dict[str, dict] = {}
    runnable: list[tuple[Variant, EmbeddingModel, float | None, str]] = []
    for v in variants:
        try:
            enc = encoders.get(v.encoder)
        except Unavailable as exc:
            skipped[v.name] = str(exc)
            log(f"[{v.name}] skipped: {exc}")
            continue
        extra = getattr(enc, "extra", {}) or {}
        if v.needs == "plda" and "plda" not in extra:
            skipped[v.name] = "the model has no PLDA back end (fit one with diarize fit-backend)"
        elif v.needs == "adapt" and importlib.util.find_spec("torch") is None:
            skipped[v.name] = "adaptation needs torch (the train extra)"
        if v.name in skipped:
            log(f"[{v.name}] skipped: {skipped[v.name]}")
            continue
        if isinstance(enc, MfccStats) and not enc.fitted:
            if tune_items is None:
                skipped[v.name] = "no simulated tuning set to fit its standardisation on"
                log(f"[{v.name}] skipped: {skipped[v.name]}")
                continue
            fit_mfcc(enc, tune_items, base)
        if v.threshold == "tuned":
            if tune_items is None:
                skipped[v.name] = "no simulated tuning set to choose its threshold on"
                log(f"[{v.name}] skipped: {skipped[v.name]}")
                continue
            log(f"[{v.name}] tuning the threshold on {len(tune_items)} sim-tune files")
            tuned[v.name] = tune_threshold(Pipeline, v, enc, tune_items, args.quick, log, base)
            runnable.append((v, enc, tuned[v.name]["threshold"], "tuned"))
        elif isinstance(v.threshold, float):
            runnable.append((v, enc, v.threshold, "fixed"))
        else:
            p = Pipeline(build_config(v, None, base), encoder=enc)
            scoring = p.resolve_scoring(p.config)
            learned = f"{scoring}_threshold" in extra
            runnable.append((v, enc, None, "learned" if learned else "model default"))

    results: dict[str, list] = {}
    details: dict[str, dict] = {}
    for set_name, items in sets.items():
        for v, enc, thr, source in runnable:
            config = build_config(v, thr, base)
            pipeline = Pipeline(config, encoder=enc)
            value = thr if thr is not None else pipeline.scorer(config)[1]
            log(f"[{set_name}] {v.name}: {v.what}")
            scores = run_set(pipeline, items, v.oracle, log, v.name, v.speech, v.overlaps, v.labels)
            s = scores.summary()
            results.setdefault(set_name, []).append((v, threshold_label(v, value, source), s))
            details[f"{set_name}/{v.name}"] = {"summary": s, "files": scores.files}
            log(
                f"[{set_name}] {v.name}: DER {_pct(s['der'])} % (miss {_pct(s['missed'])}, FA "
                f"{_pct(s['false_alarm'])}, conf {_pct(s['confusion'])}), JER {_pct(s['jer'])} %, "
                f"RTF {s['rtf']:.4f}"
            )
    elapsed = time.perf_counter() - t_start
    text = report(
        args,
        sets,
        results,
        tuned,
        skipped,
        encoders,
        started,
        elapsed,
        (load0, os.getloadavg()[0]),
        details,
        descriptions,
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "der-details.json").write_text(json.dumps(details, indent=1, default=str))
    log(f"wrote {out_path} ({elapsed / 60:.1f} min); per-file details in {CACHE}/der-details.json")
    return 0


def fit_mfcc(encoder, items: list[Item], config: PipelineConfig | None = None) -> None:
    """Standardisation statistics of the MFCC baseline from sim-tune speech windows (no labels)."""
    from diarize import audio as audio_io
    from diarize.embed import detect_regions, windows

    config = config or PipelineConfig()
    stats = []
    for item in items:
        x = audio_io.load(item.wav, encoder.sample_rate)
        _, window_regions = detect_regions(x, config.vad, config.embed, encoder.sample_rate)
        bounds = windows(window_regions, config.embed)
        stats.append(encoder.raw_stats(x, bounds))
    encoder.fit(np.concatenate(stats))


if __name__ == "__main__":
    sys.exit(main())
