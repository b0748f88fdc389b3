"""Read and write RTTM and UEM files (no pyannote import needed).

RTTM (NIST RT-09): ten space-separated fields per line::

    SPEAKER <uri> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>

Files are UTF-8 (speaker names such as ``MÉO069`` occur in real corpora).
"""

from __future__ import annotations

import errno
import math
import os
import re
import tempfile
from collections import defaultdict
from pathlib import Path

from diarize.errors import RTTMError, read_text
from diarize.types import Diarization, Turn


def format_rttm(diarization: Diarization, channel: int = 1) -> str:
    """Standard 10-field RTTM, one SPEAKER line per turn, times with millisecond precision."""
    uri = diarization.uri.replace(" ", "_") or "unknown"
    lines = []
    for t in diarization.turns:
        start = round(t.start, 3)
        duration = round(t.end - t.start, 3)
        if duration <= 0:
            continue
        lines.append(
            f"SPEAKER {uri} {channel} {start:.3f} {duration:.3f} <NA> <NA> {t.speaker} <NA> <NA>"
        )
    return "".join(line + "\n" for line in lines)


def parse_rttm(text: str, source: str = "<rttm>") -> dict[str, Diarization]:
    """Parse RTTM text into one ``Diarization`` per file id.

    Lines that are empty or start with ``#`` or ``;;`` (NIST comments) are skipped, as are
    non-SPEAKER records (SPKR-INFO and friends). Anything else malformed raises ``RTTMError``
    naming the line.
    """
    turns: dict[str, list[Turn]] = defaultdict(list)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";;")):
            continue
        fields = line.split()
        if fields[0] != "SPEAKER":
            if fields[0] in {"SPKR-INFO", "LEXEME", "NON-LEX", "NON-SPEECH", "SEGMENT", "NOSCORE"}:
                continue
            raise RTTMError(f"{source}:{number}: unknown record type {fields[0]!r}")
        if len(fields) < 9:
            raise RTTMError(
                f"{source}:{number}: expected 10 fields "
                f"(SPEAKER uri channel start duration <NA> <NA> speaker <NA> <NA>), "
                f"got {len(fields)}"
            )
        try:
            start = float(fields[3])
            duration = float(fields[4])
        except ValueError:
            raise RTTMError(
                f"{source}:{number}: start and duration must be numbers, "
                f"got {fields[3]!r} and {fields[4]!r}"
            ) from None
        if not (math.isfinite(start) and math.isfinite(duration)) or start < 0 or duration < 0:
            raise RTTMError(
                f"{source}:{number}: start and duration must be finite and >= 0, "
                f"got {fields[3]!r} and {fields[4]!r}"
            )
        turns[fields[1]].append(Turn(start, start + duration, fields[7]))
    return {
        uri: Diarization(uri=uri, turns=tuple(sorted(ts)), duration=max(t.end for t in ts))
        for uri, ts in turns.items()
    }


def read_rttm(path: str | Path) -> dict[str, Diarization]:
    """Read an RTTM file (UTF-8)."""
    return parse_rttm(read_text(path, RTTMError), source=str(path))


def parse_uem(text: str, source: str = "<uem>") -> dict[str, list[tuple[float, float]]]:
    """UEM: ``<uri> <channel> <start> <end>`` per line -> {uri: [(start, end), ...]}."""
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";;")):
            continue
        fields = line.split()
        if len(fields) != 4:
            raise RTTMError(f"{source}:{number}: UEM lines have 4 fields, got {len(fields)}")
        try:
            start, end = float(fields[2]), float(fields[3])
        except ValueError:
            raise RTTMError(f"{source}:{number}: start and end must be numbers") from None
        if not (math.isfinite(start) and math.isfinite(end)):
            raise RTTMError(f"{source}:{number}: start and end must be finite numbers")
        if end < start:
            raise RTTMError(f"{source}:{number}: end {end} is before start {start}")
        out[fields[0]].append((start, end))
    return dict(out)


def read_uem(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """Read a UEM file (UTF-8)."""
    return parse_uem(read_text(path, RTTMError), source=str(path))


#: The name of :func:`write_atomic`'s temporary file, ``.NAME.PID.tmp``; group 1 is the pid
#: of the writing process.
TEMPORARY_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same folder and an atomic rename.

    A path that exists as something other than a file or folder (``/dev/stdout`` on a
    terminal or pipe, a named pipe) is written to directly: renaming over it would replace
    the device or pipe. A symbolic link is written through (its target is replaced), not
    replaced by a file."""
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return path
    if path.is_symlink():
        path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the folder should be: say so, not "File exists"
        raise NotADirectoryError(
            errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)
        ) from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # see TEMPORARY_NAME
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_writable(path: str | Path) -> None:
    """Raise ``OSError`` (``strerror`` says why) when ``write_atomic(path, ...)`` would fail
    for want of a folder or of permission; a probe file is created and removed, nothing is
    left behind. Meant for checking outputs before long work, not as a guarantee."""
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():  # a device or a pipe
        if not os.access(path, os.W_OK):  # (opening a pipe to try could block)
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return
    if path.is_symlink():
        path = path.resolve()
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    folder = path.parent  # or its nearest existing ancestor, where write_atomic makes it
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
    fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    os.unlink(probe)
