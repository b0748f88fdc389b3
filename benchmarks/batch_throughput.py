"""Batch throughput: the same folder with --jobs 1 and --jobs 2 (worker processes).

Extras: none beyond the install (`cluster` for Dask).

    python -m benchmarks.batch_throughput                 # writes benchmarks/reports/BATCH.md
    python -m benchmarks.batch_throughput --copies 4 --trials 1 --no-write

The folder holds ``--copies`` links to each dev/ami recording (../shared/data/dev/ami/wav,
12 x 30 s; examples/meeting.wav when that is absent), so that worker start-up (an
interpreter, torch, the model) is paid once per run as in a real batch of many calls, not
once per file. Each run is ``run_batch`` with ``overwrite=True`` into a fresh folder, timed
wall clock from the call to the written report: discovery, worker start-up, every file,
all.rttm and the report.

Settings: ``--jobs 1`` as shipped (this process, cores torch threads), ``--jobs 2`` as
shipped (two spawned workers, cores / 2 threads each), and ``--jobs 1 --threads 1`` (one
worker, one thread) which separates what the second process brings from what torch's
intra-op threads bring. Runs go A B C C B A ... so that a change in the load of a shared
machine hits every setting alike; ratios are of median wall times. CPU seconds are this
process and its finished children (user + system).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
GOAL = 1.6


def sources() -> list[Path]:
    ami = sorted((DATA / "dev" / "ami" / "wav").glob("*.wav"))
    return ami or [ROOT / "examples" / "meeting.wav"]


def shown(path: Path) -> str:
    """``path`` relative to the repository when it can be (reports name no local paths)."""
    try:
        return os.path.relpath(path.resolve(), ROOT)
    except ValueError:
        return str(path)


def build_folder(folder: Path, copies: int) -> list[Path]:
    """``copies`` links to every source, named so that sorted order interleaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    links = []
    for k in range(copies):
        for source in sources():
            link = folder / f"{source.stem}__{k:03d}.wav"
            if not link.exists():
                link.symlink_to(source.resolve())
            links.append(link)
    return links


def resolve_model(model: str | None, scratch: Path) -> tuple[Path, str]:
    """The model to time with, and how to describe it."""
    from diarize.encoder import default_model_path, random_encoder, save_encoder, sha256sum

    path = Path(model) if model else default_model_path()
    if path.is_file():
        return path, f"`{shown(path)}` (sha256 {sha256sum(path)[:12]})"
    if model:
        raise SystemExit(f"{model}: no such model checkpoint")
    # No shipped model: time the shipped architecture with random weights (same compute).
    encoder = random_encoder(0)
    path = scratch / "random-encoder.pt"
    save_encoder(path, encoder.model, encoder.feature_config, {"name": "random"})
    missing = shown(default_model_path())
    return path, f"no shipped model ({missing} missing): random weights, shipped architecture"


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


SETTINGS = {"A": (1, None), "B": (2, None), "C": (1, 1)}  # (jobs, threads per job)
NAMES = {"A": "--jobs 1", "B": "--jobs 2", "C": "--jobs 1 --threads 1"}


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat), if known."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def one_run(folder: Path, out: Path, setting: str, model: Path) -> dict:
    from diarize.batch import BatchOptions, run_batch
    from diarize.pipeline import RunOptions

    jobs, threads = SETTINGS[setting]
    load_before = os.getloadavg()[0]
    cpu = cpu_seconds()
    machine_busy = busy_cpu_seconds()
    tic = time.perf_counter()
    report = run_batch(
        folder,
        out,
        BatchOptions(jobs=jobs, threads=threads, overwrite=True, progress=False),
        RunOptions(model=model),
    )
    wall = time.perf_counter() - tic
    own = cpu_seconds() - cpu
    others = None
    if machine_busy is not None:
        # What the rest of the machine ran meanwhile, as a share of all its cores.
        others_seconds = max(0.0, busy_cpu_seconds() - machine_busy - own)
        others = others_seconds / (wall * (os.cpu_count() or 1))
    s = report.summary
    if s["failed"]:
        raise SystemExit(f"{s['failed']} files failed: {report.failed[0].error}")
    return {
        "setting": setting,
        "jobs": jobs,
        "backend": s["backend"],
        "threads": s["threads_per_job"],
        "files": s["num_files"],
        "audio": s["audio_seconds"],
        "wall": wall,
        "cpu": own,
        "others": others,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def machine() -> str:
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from diarize.batch import usable_cores

    return (
        f"{cpu}, {usable_cores()} usable cores, onnxruntime {onnxruntime.__version__}, "
        f"Python {platform.python_version()}"
    )


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f} %"


def report(runs: list[dict], args, model_text: str, command: str, started: str) -> str:
    from diarize.batch import usable_cores

    def median(key: str, field: str) -> float:
        return statistics.median(r[field] for r in runs if r["setting"] == key)

    wall = {key: median(key, "wall") for key in SETTINGS}
    cpu = {key: median(key, "cpu") for key in SETTINGS}
    audio = runs[0]["audio"]
    ratio = wall["A"] / wall["B"]
    cores = usable_cores()
    shares = [r["others"] for r in runs if r["others"] is not None]
    # Other jobs' CPU use during the runs (/proc/stat), else the load average before them.
    if shares:
        busy = max(shares) > 0.1
        busy_text = f"up to {_percent(max(shares))} of its {cores} cores"
    else:
        load = max(r["load_before"] for r in runs)
        busy = load > 0.5
        busy_text = f"a load average of up to {load:.1f} on its {cores} cores"
    if busy:
        verdict = "not judged on a busy machine (see below)"
    else:
        verdict = "met" if ratio >= GOAL else "missed"
    lines = [
        "# Batch throughput: --jobs 1 vs --jobs 2",
        "",
        f"- date: {started}",
        f"- machine: {machine()}",
        f"- git commit: `{git_commit()}`",
        f"- command: `{command}`",
        f"- data: {runs[0]['files']} files, {audio / 60:.1f} min of audio "
        f"({args.copies} links to each of {len(sources())} recordings in "
        f"{shown(sources()[0].parent)})",
        f"- model: {model_text}; default pipeline configuration",
        "",
        "Wall time covers the whole `run_batch` call: discovery, worker start-up (spawned "
        "interpreter, torch, model), every file, all.rttm and the report. Speed is seconds "
        "of audio per wall-clock second. CPU is user + system seconds of this process and "
        "its workers. Others is the CPU time the rest of the machine used during the run, "
        "as a share of all its cores (/proc/stat): other jobs competing for the cores. "
        "Load is the 1-minute load average before and after the run.",
        "",
        "| run | setting | backend | threads/job | wall s | speed (x real time) | CPU s | "
        "others | load before / after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(runs, start=1):
        lines.append(
            f"| {i} | `{NAMES[r['setting']]}` | {r['backend']} | {r['threads']} | "
            f"{r['wall']:.1f} | {r['audio'] / r['wall']:.0f} | {r['cpu']:.1f} | "
            f"{_percent(r['others'])} | {r['load_before']:.1f} / {r['load_after']:.1f} |"
        )
    lines += [
        "",
        f"**Throughput ratio --jobs 2 over --jobs 1 (median wall times): {ratio:.2f}x** "
        f"({wall['A']:.1f} s vs {wall['B']:.1f} s); the goal of {GOAL}x on 2 cores: "
        f"{verdict}. Against one process with one thread (`--jobs 1 --threads 1`, "
        f"{wall['C']:.1f} s): {wall['C'] / wall['B']:.2f}x.",
        "",
    ]
    if busy:
        lines += [
            f"**The machine was busy**: other jobs used {busy_text} during the runs, cores "
            "this benchmark asked for. The wall times above show how each setting fares on "
            f"a contended machine, not the idle {cores}-core ratio the goal is about. Two "
            "torch threads in one process suffer most there (CPU seconds well above the "
            "one-thread run: threads wait on each other when a core is taken). From CPU "
            f"time, an idle machine would give about {cpu['C']:.0f} s for "
            f"`--jobs 1 --threads 1` and {cpu['B'] / 2:.0f} s for `--jobs 2` (its "
            f"{cpu['B']:.0f} CPU seconds, start-up included, over 2 cores): about "
            f"{2 * cpu['C'] / cpu['B']:.1f}x, a projection, not a measurement.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40, help="links per source recording")
    parser.add_argument("--trials", type=int, default=2, help="runs of each setting")
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: shipped)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write BATCH.md")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "reports" / "BATCH.md"))
    args = parser.parse_args()
    started = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    command = "python -m benchmarks.batch_throughput " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="batch-throughput-") as tmp:
        scratch = Path(tmp)
        folder = scratch / "in"
        build_folder(folder, args.copies)
        model, model_text = resolve_model(args.model, scratch)
        order = "".join("ABC" if t % 2 == 0 else "CBA" for t in range(args.trials))
        runs = []
        for i, setting in enumerate(order):
            run = one_run(folder, scratch / f"out{i}", setting, model)
            print(
                f"{setting} {SETTINGS[setting]}: {run['wall']:.1f} s wall, "
                f"{run['audio'] / run['wall']:.0f}x real time, CPU {run['cpu']:.1f} s, "
                f"others {_percent(run['others'])}, "
                f"load {run['load_before']:.1f} -> {run['load_after']:.1f}",
                file=sys.stderr,
            )
            runs.append(run)
    text = report(runs, args, model_text, command, started)
    if args.no_write:
        print(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
