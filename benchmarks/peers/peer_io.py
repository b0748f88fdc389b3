"""What every peer runner shares: its command line, RTTM output and the timing record.

Standard library only: the runners import this module from their own folder (they are run as
scripts, ``python benchmarks/peers/run_senko.py ...``) with a peer's interpreter, which may
have nothing of this project installed.

Runner protocol (``run_diarize.py``, ``run_resemblyzer.py``, ``run_senko.py``,
``run_sherpa.py``)::

    PYTHON run_TOOL.py --probe                 # JSON {"versions": {...}} on stdout, exit 0;
                                               # exit 3 and one line on stderr if not installed
    PYTHON run_TOOL.py WAV RTTM META [options]  # diarize WAV into RTTM (uri = file stem) and
                                               # write META: {"load_s", "process_s", ...}

``load_s`` is the time from the runner's first line to a loaded model (imports included),
``process_s`` the diarization of WAV alone; the caller measures the whole process around it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

START = time.perf_counter()  # as early as the runner can take it: its imports come after
NOT_INSTALLED = 3  # exit status of a probe whose package is missing


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def probe(packages: list[str], hint: str) -> int:
    """Print the versions of ``packages`` as JSON, or say what is missing (exit 3)."""
    versions = {name: package_version(name) for name in packages}
    missing = [name for name, v in versions.items() if v is None]
    if missing:
        print(
            f"{', '.join(missing)} not installed in {sys.executable} ({hint})",
            file=sys.stderr,
        )
        return NOT_INSTALLED
    versions["python"] = sys.version.split()[0]
    print(json.dumps({"versions": versions}))
    return 0


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--probe", action="store_true", help="print versions and exit")
    p.add_argument("wav", nargs="?", type=Path)
    p.add_argument("rttm", nargs="?", type=Path)
    p.add_argument("meta", nargs="?", type=Path)
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.probe and (args.wav is None or args.rttm is None or args.meta is None):
        p.error("WAV, RTTM and META are required (or --probe)")


def format_rttm(uri: str, segments: list[tuple[float, float, str]]) -> str:
    """RTTM lines, sorted by start; empty or negative-length segments are dropped."""
    lines = []
    for start, end, speaker in sorted(segments, key=lambda s: (s[0], s[1], str(s[2]))):
        if end - start > 0:
            lines.append(
                f"SPEAKER {uri} 1 {start:.3f} {end - start:.3f} <NA> <NA> {speaker} <NA> <NA>"
            )
    return "".join(line + "\n" for line in lines)


def write_text(path: Path, text: str) -> None:
    """Atomically: a runner that dies leaves no partial output behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def finish(
    args: argparse.Namespace,
    segments: list[tuple[float, float, str]],
    loaded: float,
    done: float,
    **extra,
) -> int:
    """Write the RTTM and the timing record; ``loaded`` and ``done`` are perf_counter times."""
    write_text(args.rttm, format_rttm(args.wav.stem, segments))
    meta = {
        "load_s": round(loaded - START, 4),
        "process_s": round(done - loaded, 4),
        "speakers": len({s[2] for s in segments}),
        **extra,
    }
    write_text(args.meta, json.dumps(meta, indent=1) + "\n")
    return 0
