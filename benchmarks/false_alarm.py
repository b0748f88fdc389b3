"""Where the speech detector's false alarm lies, per cross-domain domain.

    python -m benchmarks.false_alarm          # -> benchmarks/reports/FALSE-ALARM.md

The detector's regions (Silero with the shipped post-processing: gain, threshold, hysteresis,
pause bridging, padding) are compared with the reference's speech on the domains of
``benchmarks.crossdomain``, frame by frame (10 ms) inside the UEM. Every false-alarm frame
(detected speech where no reference talker speaks) is put in a bin by its distance to the
nearest reference speech, and counted as "in a pause" when reference speech lies on both
sides of it within 1 s. Shares are in % of the reference speech time (not speaker time: an
overlapped frame counts once). On the simulated domains the figures are also split by the
file's noise: babble (possibly with coloured noise) or coloured noise only.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der
from benchmarks.vad_crossdomain import DOMAINS, probabilities

REPORT = der.ROOT / "benchmarks" / "reports" / "FALSE-ALARM.md"
FRAME = 0.01  # seconds
#: upper edges (s) of the distance bins; the last bin is everything farther
EDGES = (0.1, 0.2, 0.3, 0.5, 1.0)
PAUSE = 1.0  # seconds: a false alarm with reference speech this close on both sides is in a pause


def frames(regions: np.ndarray, num_frames: int, rate: float) -> np.ndarray:
    """[start, end) regions in units of ``1 / rate`` s -> a boolean mask of 10-ms frames."""
    mask = np.zeros(num_frames, bool)
    for a, b in np.asarray(regions, dtype=np.float64).reshape(-1, 2) / rate / FRAME:
        mask[int(round(a)) : int(round(b))] = True
    return mask


def distances(reference: np.ndarray, detected: np.ndarray, scored: np.ndarray):
    """For the false-alarm frames (``detected`` & ~``reference`` & ``scored``): seconds to the
    nearest reference frame before and after each (inf where there is none)."""
    fa = np.flatnonzero(detected & ~reference & scored)
    ref = np.flatnonzero(reference)
    if len(ref) == 0:
        inf = np.full(len(fa), np.inf)
        return inf, inf.copy()
    k = np.searchsorted(ref, fa)
    before = np.where(k > 0, (fa - ref[np.maximum(k - 1, 0)]) * FRAME, np.inf)
    after = np.where(k < len(ref), (ref[np.minimum(k, len(ref) - 1)] - fa) * FRAME, np.inf)
    return before, after


class Tally:
    """False-alarm seconds by distance bin and in pauses, reference speech seconds, and the
    number of files added."""

    def __init__(self):
        self.files = 0
        self.bins = np.zeros(len(EDGES) + 1)
        self.pause = 0.0
        self.speech = 0.0

    def add(self, reference: np.ndarray, detected: np.ndarray, scored: np.ndarray) -> None:
        self.files += 1
        before, after = distances(reference, detected, scored)
        nearest = np.minimum(before, after)
        self.bins += (
            np.bincount(np.searchsorted(EDGES, nearest, side="right"), minlength=len(EDGES) + 1)
            * FRAME
        )
        self.pause += float(np.sum((before <= PAUSE) & (after <= PAUSE))) * FRAME
        self.speech += float(np.sum(reference & scored)) * FRAME

    def cells(self) -> list[str]:
        pct = 100.0 / max(self.speech, 1e-9)
        return [f"{pct * self.bins.sum():.1f}", f"{pct * self.pause:.1f}"] + [
            f"{pct * x:.1f}" for x in self.bins
        ]


def noise_kind(item: der.Item) -> str | None:
    """ "babble" or "coloured" for a simulated file (from its set's simulation.json), else None."""
    kinds = (der.simulated_file(item) or {}).get("noise", [])
    return "babble" if "babble" in kinds else "coloured" if kinds else None


def tally(files, config) -> dict[str, Tally]:
    """Tallies of one domain ("all", and per noise kind on simulated sets) under ``config``."""
    from diarize.vad import binarize

    out: dict[str, Tally] = {"all": Tally()}
    for item, num_samples, step, probs in files:
        n = int(np.ceil(num_samples / 16000 / FRAME))
        detected = frames(binarize(probs, step, num_samples, config), n, 16000)
        reference = frames(der.reference_speech_regions(item, num_samples), n, 16000)
        scored = frames(np.array(item.uem), n, 1.0)
        kind = noise_kind(item)
        for key in ("all", kind):
            if key is not None:
                out.setdefault(key, Tally()).add(reference, detected, scored)
    return out


def main(argv: list[str] | None = None) -> int:
    from diarize.config import VADConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    log = der.log_stderr
    tic = time.perf_counter()
    sets = cd.all_domains(DOMAINS, log)  # the tuning set is not needed here
    if sets is None:
        return 1
    shipped = VADConfig()
    configs = {"shipped": shipped, "no padding": replace(shipped, pad=0.0)}
    bins = [f"< {EDGES[0]:g} s"]
    bins += [f"{a:g}-{b:g} s" for a, b in zip(EDGES, EDGES[1:], strict=False)]
    bins += [f">= {EDGES[-1]:g} s"]
    head = "| domain | files | FA | in a pause | " + " | ".join(bins) + " |"
    sep = "|---|---|" + "---|" * (len(bins) + 2)
    tables = {name: [head, sep] for name in configs}
    for domain in DOMAINS:
        log(f"[{domain}] speech probabilities")
        files = probabilities(sets[domain], log)
        for name, config in configs.items():
            for key, t in tally(files, config).items():
                label = domain if key == "all" else f"{domain}, {key} noise"
                tables[name].append(f"| {label} | {t.files} | " + " | ".join(t.cells()) + " |")
    lines = der.report_header(
        "Where the speech detector's false alarm lies", "python -m benchmarks.false_alarm"
    )
    lines += [der.run_time_line(time.perf_counter() - tic), "", __doc__.split("\n\n", 2)[2].strip()]
    lines += [
        "",
        "Columns: FA, false-alarm time in % of the reference speech time; in a pause, the part "
        f"of it with reference speech within {PAUSE:g} s on both sides; then the FA by "
        "distance to the nearest reference speech.",
    ]
    for name, config in configs.items():
        lines += [
            "",
            f"## {name}: threshold {config.threshold:g}, hysteresis {config.hysteresis:g}, "
            f"pauses under {config.min_silence:g} s bridged, padding {config.pad:g} s",
            "",
            *tables[name],
        ]
    return der.write_report(Path(args.out), lines)


if __name__ == "__main__":
    sys.exit(main())
