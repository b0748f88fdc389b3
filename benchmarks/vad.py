"""Speech activity detection on real meetings: every VAD method, one run.

Extras: `score` (pyannote.metrics); the webrtc method `webrtc`; the timing of the silero-vad
package's own loop needs that package and torch.

    python benchmarks/vad.py                   # data from ../shared/data (next to the repo)
    python benchmarks/vad.py --data /path/to/data --methods silero,spectral

Scoring: pyannote.metrics ``DetectionErrorRate`` with collar 0 (no tolerance at all around
reference boundaries; overlapped speech is scored as speech), UEM applied, corpus totals
(miss, false alarm and total speech summed over files before dividing). Recordings are
raised to the pipeline's level first (``diarize.audio.raise_quiet``), as the pipeline does.

On ``dev/ami`` (12 x 30 s of AMI meetings, reference RTTM + UEM), four rows per method:

* ``untuned``: threshold 0.5, no hysteresis, min_speech 0.25 s, min_silence 0.25 s, no pad.
* ``default``: ``VADConfig(method=...)`` as shipped (its post-processing was set on dev/ami).
* ``default, no pad``: the same without padding (what the shipped ``pad`` buys; the
  pipeline's level gates, ``diarize.embed.detect_regions``, are not applied here).
* ``dev-tuned``: the best grid point (threshold, hysteresis, min_speech, min_silence, pad)
  chosen and scored on the same files: optimistic.
* ``leave-one-out``: each file scored with the grid point that is best on the other 11, totals
  added up: what tuning on data like this buys on a file it has not seen.

Then a held-out check that nothing was tuned on: LibriSpeech test-other utterances placed
between random pauses over real noise at 0-20 dB SNR, the reference being where the clean
speech is loud (frames within 35 dB of the utterance's peak, pauses under 0.25 s bridged).

Also timed: the real-time factor of ``speech_probability`` (seconds of compute per second of
audio); Silero through the ``silero-vad`` package's own 32-ms loop against the batched forward
in ``diarize.vad``; one hour of audio (the dev files repeated) through ``detect_speech`` for
every method, each in a fresh process, with its peak memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from diarize.audio import load, raise_quiet  # noqa: E402
from diarize.config import VADConfig  # noqa: E402
from diarize.rttm import read_rttm, read_uem  # noqa: E402
from diarize.vad import METHODS, binarize, detect_speech, speech_probability  # noqa: E402

SAMPLE_RATE = 16000
UNTUNED = dict(threshold=0.5, hysteresis=0.0, min_speech=0.25, min_silence=0.25, pad=0.0)


def unpadded(method: str) -> VADConfig:
    return dataclasses.replace(VADConfig(method=method), pad=0.0)


GRID = {
    "threshold": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "hysteresis": (0.0, 0.1, 0.15),
    "min_speech": (0.1, 0.25, 0.5),
    "min_silence": (0.1, 0.25, 0.5, 1.0),
    "pad": (0.0, 0.1, 0.2, 0.3),
}


@dataclasses.dataclass
class Recording:
    uri: str
    waveform: np.ndarray  # (num_samples,) float32
    speech: list[tuple[float, float]]  # reference speech, seconds
    uem: list[tuple[float, float]]  # scored part, seconds


def load_dev(data: Path) -> list[Recording]:
    root = data / "dev" / "ami"
    out = []
    for uri in (root / "all.lst").read_text(encoding="utf-8").split():
        reference = read_rttm(root / "rttm" / f"{uri}.rttm")[uri]
        out.append(
            Recording(
                uri,
                # what the pipeline's detector sees: quiet recordings raised
                raise_quiet(load(root / "wav" / f"{uri}.wav", SAMPLE_RATE))[0],
                [(t.start, t.end) for t in reference.turns],
                read_uem(root / "uem" / f"{uri}.uem")[uri],
            )
        )
    return out


def simulate(data: Path, seed: int = 0, num_recordings: int = 8) -> list[Recording]:
    """Read speech between pauses over real noise; reference from the clean signal."""
    rng = np.random.default_rng(seed)
    utterances = sorted((data / "train" / "librispeech" / "librispeech_test-other").rglob("*.flac"))
    noises = [load(p, SAMPLE_RATE) for p in sorted((data / "noise").iterdir()) if p.is_file()]
    hop = SAMPLE_RATE // 100
    out = []
    for r in range(num_recordings):
        pieces, speech, t = [], [], 0.0
        for path in rng.choice(utterances, size=4, replace=False):
            pause = np.zeros(int(rng.uniform(0.5, 3.0) * SAMPLE_RATE), np.float32)
            clean = load(path, SAMPLE_RATE) * np.float32(10 ** (rng.uniform(-10, 0) / 20))
            pieces += [pause, clean]
            t += len(pause) / SAMPLE_RATE
            # Reference: 10 ms frames within 35 dB of the utterance's loudest frame.
            n = len(clean) // hop
            energy = 10 * np.log10(np.mean(clean[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
            active = energy > energy.max() - 35.0
            edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(int), [0]])))
            for start, end in edges.reshape(-1, 2) * 0.01:
                if speech and t + start - speech[-1][1] < 0.25:
                    speech[-1] = (speech[-1][0], t + end)
                else:
                    speech.append((t + start, t + end))
            t += len(clean) / SAMPLE_RATE
        pieces.append(np.zeros(int(rng.uniform(0.5, 3.0) * SAMPLE_RATE), np.float32))
        x = np.concatenate(pieces)
        noise = noises[r % len(noises)]
        noise = np.tile(noise, int(np.ceil(len(x) / len(noise))) + 1)
        offset = rng.integers(0, len(noise) - len(x))
        noise = noise[offset : offset + len(x)]
        speech_power = np.mean(np.concatenate(pieces[1::2]) ** 2)
        snr = rng.uniform(0.0, 20.0)
        gain = np.sqrt(speech_power / (np.mean(noise**2) + 1e-12) / 10 ** (snr / 10))
        x = raise_quiet((x + gain * noise).astype(np.float32))[0]
        out.append(Recording(f"sim{r:02d}", x, speech, [(0.0, len(x) / SAMPLE_RATE)]))
    return out


class Scorer:
    """Per-recording (miss, false alarm, total) seconds from pyannote.metrics, collar 0."""

    def __init__(self, recordings: list[Recording]):
        from pyannote.core import Annotation, Segment, Timeline

        self._annotation, self._segment = Annotation, Segment
        self.references, self.uems = {}, {}
        for rec in recordings:
            reference = Annotation(uri=rec.uri)
            for i, (start, end) in enumerate(rec.speech):
                reference[Segment(start, end), i] = "speech"
            self.references[rec.uri] = reference
            self.uems[rec.uri] = Timeline([Segment(s, e) for s, e in rec.uem], uri=rec.uri)

    def components(self, uri: str, regions: np.ndarray) -> np.ndarray:
        from pyannote.metrics.detection import DetectionErrorRate

        hypothesis = self._annotation(uri=uri)
        for i, (start, end) in enumerate(regions / SAMPLE_RATE):
            hypothesis[self._segment(float(start), float(end)), i] = "speech"
        metric = DetectionErrorRate(collar=0.0, skip_overlap=False)
        detail = metric(self.references[uri], hypothesis, uem=self.uems[uri], detailed=True)
        return np.array([detail["miss"], detail["false alarm"], detail["total"]])


def rates(totals: np.ndarray) -> tuple[float, float, float]:
    """(miss %, false alarm %, detection error rate %) from summed components."""
    miss, false_alarm, total = totals
    return 100 * miss / total, 100 * false_alarm / total, 100 * (miss + false_alarm) / total


def probabilities(method: str, recordings: list[Recording]) -> tuple[dict, float]:
    """Frame probabilities per recording, and the real-time factor of computing them."""
    config = VADConfig(method=method)
    speech_probability(recordings[0].waveform[:SAMPLE_RATE], config)  # load models first
    probs, elapsed = {}, 0.0
    for rec in recordings:
        tic = time.perf_counter()
        probs[rec.uri] = speech_probability(rec.waveform, config)
        elapsed += time.perf_counter() - tic
    audio = sum(len(rec.waveform) for rec in recordings) / SAMPLE_RATE
    return probs, elapsed / audio


def per_recording(config, recordings, probs, scorer) -> np.ndarray:
    """(num_recordings, 3) miss / false alarm / total seconds."""
    return np.stack(
        [
            scorer.components(
                rec.uri,
                binarize(
                    probs[rec.uri].probs,
                    probs[rec.uri].step,
                    len(rec.waveform),
                    config,
                    SAMPLE_RATE,
                ),
            )
            for rec in recordings
        ]
    )


def evaluate(method: str, recordings, scorer: Scorer) -> dict:
    probs, rtf = probabilities(method, recordings)
    default = VADConfig(method=method)
    untuned = VADConfig(method=method, **UNTUNED)
    configs = [
        VADConfig(method=method, **dict(zip(GRID, values, strict=True)))
        for values in itertools.product(*GRID.values())
    ]
    configs = [c for c in configs if c.hysteresis <= c.threshold]
    table = np.stack([per_recording(c, recordings, probs, scorer) for c in configs])
    errors = table[:, :, 0] + table[:, :, 1]  # (num_configs, num_recordings)
    best = int(np.argmin(errors.sum(axis=1)))
    held_out = np.zeros(3)
    for i in range(len(recordings)):
        others = np.delete(np.arange(len(recordings)), i)
        held_out += table[int(np.argmin(errors[:, others].sum(axis=1))), i]
    return {
        "rtf": rtf,
        "untuned": rates(per_recording(untuned, recordings, probs, scorer).sum(axis=0)),
        "default": rates(per_recording(default, recordings, probs, scorer).sum(axis=0)),
        "default, no pad": rates(
            per_recording(unpadded(method), recordings, probs, scorer).sum(axis=0)
        ),
        "dev-tuned": rates(table[best].sum(axis=0)),
        "leave-one-out": rates(held_out),
        "tuned_config": configs[best],
    }


def held_out_check(method: str, recordings, scorer: Scorer, tuned: VADConfig) -> dict:
    probs, rtf = probabilities(method, recordings)
    settings = {
        "untuned": VADConfig(method=method, **UNTUNED),
        "default": VADConfig(method=method),
        "default, no pad": unpadded(method),
        "dev-tuned": tuned,
    }
    result = {"rtf": rtf}
    for name, config in settings.items():
        result[name] = rates(per_recording(config, recordings, probs, scorer).sum(axis=0))
    return result


def silero_package_timing(recordings) -> list[str]:
    """The silero-vad package's own 32-ms loop vs diarize.vad's batched forward."""
    try:
        import torch
    except ImportError:
        return ["torch is not installed (the package needs it): package timings skipped"]

    threads = torch.get_num_threads()
    try:
        import silero_vad  # sets torch.set_num_threads(1) on import
    except ImportError:
        return ["silero-vad is not installed: package timings skipped"]
    torch.set_num_threads(threads)
    lines = []
    audio = sum(len(rec.waveform) for rec in recordings) / SAMPLE_RATE
    tic = time.perf_counter()
    ours = {rec.uri: speech_probability(rec.waveform, VADConfig("silero")) for rec in recordings}
    lines.append(
        f"diarize.vad batched Silero forward: RTF {(time.perf_counter() - tic) / audio:.4f}"
    )
    variants = [("TorchScript", False)]
    try:
        import onnxruntime  # noqa: F401

        variants.append(("ONNX (onnxruntime)", True))
    except ImportError:
        lines.append("onnxruntime is not installed: the package's ONNX path was not timed")
    for name, onnx in variants:
        model = silero_vad.load_silero_vad(onnx=onnx)
        for num_threads in sorted({1, threads}):
            torch.set_num_threads(num_threads)
            elapsed, diff = 0.0, 0.0
            for rec in recordings:
                tic = time.perf_counter()
                with torch.inference_mode():
                    p = model.audio_forward(torch.from_numpy(rec.waveform), SAMPLE_RATE)
                elapsed += time.perf_counter() - tic
                diff = max(diff, float(np.abs(p[0].numpy() - ours[rec.uri].probs).max()))
            lines.append(
                f"silero-vad {silero_vad.__version__} package loop, {name}, torch threads "
                f"{num_threads}: RTF {elapsed / audio:.4f}, max |p - diarize.vad p| = {diff:.1e}"
            )
    torch.set_num_threads(threads)
    return lines


def hour_timing(data: Path, methods) -> list[str]:
    lines = []
    for method in methods:
        out = subprocess.run(
            [sys.executable, __file__, "--data", str(data), "--hour-child", method],
            capture_output=True,
            text=True,
            check=True,
        )
        lines.append(out.stdout.strip().splitlines()[-1])
    return lines


def hour_child(data: Path, method: str) -> None:
    one = np.concatenate([rec.waveform for rec in load_dev(data)])
    num_samples = 3600 * SAMPLE_RATE
    hour = np.tile(one, int(np.ceil(num_samples / len(one))))[:num_samples]
    config = VADConfig(method=method)
    detect_speech(hour[:SAMPLE_RATE], config)  # load models before timing
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tic = time.perf_counter()
    regions = detect_speech(hour, config, SAMPLE_RATE)
    elapsed = time.perf_counter() - tic
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"| {method} | {elapsed:.1f} s | {len(regions)} | {grown:.0f} MiB |")


def print_rows(method: str, result: dict, rows: tuple[str, ...]) -> None:
    for row in rows:
        miss, false_alarm, der = result[row]
        rtf = f"{result['rtf']:.4f}" if row == rows[0] else ""
        print(f"| {method} | {row} | {miss:.1f} | {false_alarm:.1f} | {der:.1f} | {rtf} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--no-hour", action="store_true", help="skip the one-hour timing")
    parser.add_argument("--hour-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hour_child:
        hour_child(args.data, args.hour_child)
        return 0
    if not (args.data / "dev" / "ami" / "all.lst").is_file():
        print(f"skipped: no dev/ami data under {args.data} (pass --data)")
        return 0
    available = []
    for method in [m for m in args.methods.split(",") if m]:
        try:
            speech_probability(np.zeros(SAMPLE_RATE, dtype=np.float32), VADConfig(method=method))
            available.append(method)
        except Exception as exc:  # a method whose package is missing is reported, not fatal
            print(f"skipped method {method}: {exc}")
    import onnxruntime

    dev = load_dev(args.data)
    audio = sum(len(rec.waveform) for rec in dev) / SAMPLE_RATE
    print(f"date: {datetime.date.today().isoformat()}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, onnxruntime "
        f"{onnxruntime.__version__}, load average {os.getloadavg()[0]:.1f} at start"
    )
    print(
        f"dev/ami: {len(dev)} files, {audio / 60:.1f} min. pyannote.metrics DetectionErrorRate, "
        "collar 0, overlap scored as speech, UEM applied, corpus totals"
    )
    print(f"defaults: {VADConfig()}")
    print()
    print("| method | setting | miss % | false alarm % | detection error rate % | RTF |")
    print("|---|---|---|---|---|---|")
    scorer = Scorer(dev)
    tuned = {}
    for method in available:
        result = evaluate(method, dev, scorer)
        tuned[method] = result["tuned_config"]
        print_rows(
            method,
            result,
            ("untuned", "default", "default, no pad", "dev-tuned", "leave-one-out"),
        )
    print()
    print("dev-tuned (threshold, hysteresis, min_speech, min_silence, pad):")
    for method, c in tuned.items():
        print(
            f"  {method}: {c.threshold}, {c.hysteresis}, {c.min_speech}, {c.min_silence}, {c.pad}"
        )

    if (args.data / "noise").is_dir() and (args.data / "train" / "librispeech").is_dir():
        sim = simulate(args.data)
        audio = sum(len(rec.waveform) for rec in sim) / SAMPLE_RATE
        print()
        print(
            f"held out: {len(sim)} simulated recordings, {audio / 60:.1f} min, LibriSpeech "
            "test-other over real noise at 0-20 dB SNR; same metric; dev-tuned = the dev/ami "
            "grid point above"
        )
        print()
        print("| method | setting | miss % | false alarm % | detection error rate % | RTF |")
        print("|---|---|---|---|---|---|")
        sim_scorer = Scorer(sim)
        for method in available:
            result = held_out_check(method, sim, sim_scorer, tuned[method])
            print_rows(method, result, ("untuned", "default", "default, no pad", "dev-tuned"))

    if "silero" in available:
        print()
        for line in silero_package_timing(dev):
            print(line)
    if not args.no_hour:
        print()
        print("| method | detect_speech on 1 h | regions | peak memory above the 1-h input |")
        print("|---|---|---|---|")
        for line in hour_timing(args.data, available):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
