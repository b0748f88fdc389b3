"""Fault check of ``diarize batch``: kill it, resume it, compare with a clean run.

    python -m benchmarks.faults                        # prints PASS/FAIL lines; exit 1 on a FAIL
    python -m benchmarks.faults --out benchmarks/reports/FAULTS.md
    python -m benchmarks.faults --files 8 --jobs 2 --keep /tmp/faults

Needs no data, network or GPU: the recordings are synthetic two-voice conversations (the
voices of tests/conftest.py), diarized with a small random encoder and the spectral speech
detector, so each file takes about a second. Every batch is a separate process
(``python -m diarize batch``), as a user or a scheduler would run it, and its processes are
found in /proc (Linux only):

1. clean: a batch from start to end into its own folder; while it runs, a second batch on
   the same folder must be refused (the lock);
2. SIGKILL: a batch into another folder is killed once some files are done; none of its
   processes (the worker processes, multiprocessing's resource tracker) may be left, nor an
   incomplete RTTM (a hidden ``.NAME.PID.tmp`` of a write the kill cut short may be);
3. SIGTERM: the batch is resumed (over the lock file and any temporary file the killed one
   left), and stopped with SIGTERM once some more files are done: exit 143, a message, the
   finished files kept, no process left, no partial or temporary file, the lock file removed;
4. resume: the batch is run again to the end, and every RTTM, all.rttm and config.toml must
   equal the clean run's byte for byte (report.json differs in timings and statuses; its
   files, durations and speaker counts must agree).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPARED = ("all.rttm", "config.toml")


# --- processes (Linux /proc) ----------------------------------------------------------------


def _process(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, command line) of a process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
    return state, int(ppid), cmdline.replace(b"\0", b" ").decode(errors="replace").strip()


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid`` (children, their children...): pid -> command line."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _process(int(entry.name))
            if info is not None and info[0] != "Z":
                table[int(entry.name)] = info
    found: dict[int, str] = {}
    parents = {pid}
    while parents:
        below = {p: cmd for p, (_, ppid, cmd) in table.items() if ppid in parents}
        below = {p: cmd for p, cmd in below.items() if p not in found}
        found.update(below)
        parents = set(below)
    return found


def still_running(processes: dict[int, str]) -> dict[int, str]:
    """Those of ``processes`` that still run (same pid and command line; a zombie has ended)."""
    left = {}
    for pid, cmd in processes.items():
        info = _process(pid)
        if info is not None and info[0] != "Z" and info[2] == cmd:
            left[pid] = cmd
    return left


def wait_gone(processes: dict[int, str], timeout: float) -> tuple[dict[int, str], float]:
    """Wait until none of ``processes`` runs: (those left after ``timeout``, seconds waited)."""
    tic = time.monotonic()
    left = still_running(processes)
    while left and time.monotonic() - tic < timeout:
        time.sleep(0.2)
        left = still_running(processes)
    return left, time.monotonic() - tic


def kind(cmd: str) -> str:
    if "resource_tracker" in cmd:
        return "resource tracker"
    if "spawn_main" in cmd:
        return "worker"
    return "other"


# --- the corpus and the batches -------------------------------------------------------------


def make_corpus(folder: Path, num_files: int, seconds: float) -> tuple[Path, list[str]]:
    """``num_files`` synthetic conversations of about ``seconds`` each, the tests' tiny random
    encoder (its ONNX export: no torch needed) and a configuration for synthetic voices;
    returns (input folder, the batch options)."""
    import numpy as np
    import soundfile as sf

    from tests.conftest import SR, SYNTH_TOML, TINY_ONNX, conversation

    audio = folder / "in"
    audio.mkdir(parents=True, exist_ok=True)
    for i in range(num_files):
        x, _ = conversation(seed=i, turn=4.0, pattern=("A", "B") * 3)  # 27 s
        x = np.tile(x, max(1, round(seconds / (len(x) / SR))))
        sf.write(audio / f"call_{i:03d}.wav", x, SR)
    model = TINY_ONNX
    config = folder / "synth.toml"
    config.write_text(SYNTH_TOML)
    return audio, ["--model", str(model), "--config", str(config), "-n", "2", "-q"]


@dataclass
class Batch:
    """One ``python -m diarize batch`` process, its stderr in a file (a pipe would keep
    ``communicate`` waiting on any process that inherited it)."""

    process: subprocess.Popen
    stderr: Path
    seen: dict[int, str] = field(default_factory=dict)  # every process seen below it

    def look(self) -> dict[int, str]:
        now = descendants(self.process.pid)
        self.seen.update(now)
        return now

    def wait(self, timeout: float) -> int:
        """Its exit status, noting the processes below it meanwhile; killed after ``timeout``."""
        tic = time.monotonic()
        while self.process.poll() is None:
            if time.monotonic() - tic > timeout:
                self.process.kill()
                return self.process.wait()
            self.look()
            time.sleep(0.2)
        return self.process.returncode

    def message(self) -> str:
        return self.stderr.read_text(errors="replace").strip()


def start(in_dir: Path, out: Path, options: list[str], jobs: int, log: Path) -> Batch:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "diarize", "batch", str(in_dir), "-o", str(out)]
    command += ["--jobs", str(jobs), *options]
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    return Batch(process, log)


def rttms(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*.rttm") if p.name != "all.rttm")


def partial_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob("*") if p.name.endswith(".tmp"))


def wait_midway(batch: Batch, out: Path, done: int, total: int, timeout: float) -> str | None:
    """Wait until more than ``done`` files are written while the batch still runs with its
    workers; None then, else why not."""
    tic = time.monotonic()
    while time.monotonic() - tic < timeout:
        if batch.process.poll() is not None:
            return f"the batch ended (exit {batch.process.returncode}) before it was interrupted"
        running = batch.look()
        workers = [p for p, cmd in running.items() if kind(cmd) == "worker"]
        written = len(rttms(out))
        if written > done and workers:
            if written >= total:
                return "every file was done before the batch could be interrupted"
            return None
        time.sleep(0.1)
    return f"nothing written within {timeout:.0f} s"


# --- the checks -----------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def interrupt(
    batch: Batch, out: Path, sig: signal.Signals, done: int, total: int, timeout: float
) -> list[Check]:
    name = sig.name
    why = wait_midway(batch, out, done, total, timeout)
    if why is not None:
        batch.wait(timeout)
        return [Check(f"{name}: interrupted midway", False, why)]
    before = batch.look()
    kinds = sorted(kind(cmd) for cmd in before.values())
    written = len(rttms(out))
    batch.process.send_signal(sig)
    code = batch.wait(timeout)
    checks = [
        Check(
            f"{name}: interrupted midway",
            True,
            f"{written} of {total} files done; processes below it: {', '.join(kinds)}",
        )
    ]
    left, waited = wait_gone(batch.seen, 30.0)
    checks.append(
        Check(
            f"{name}: no process left",
            not left,
            f"{len(batch.seen)} seen, all gone {waited:.1f} s after the batch ended"
            if not left
            else "left running: " + "; ".join(f"{p} {kind(c)}" for p, c in left.items()),
        )
    )
    for pid in left:  # leave the machine as it was
        os.kill(pid, signal.SIGKILL)
    expected = -signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM
    detail, ok = f"exit {code}", code == expected
    if sig == signal.SIGTERM:  # (after SIGKILL, only multiprocessing's own warnings)
        message = batch.message()
        detail += f", said: {message.splitlines()[-1]}" if message else ", said nothing"
        ok = ok and "finished files are kept" in message and "Traceback" not in message
    checks.append(Check(f"{name}: exit status", ok, detail))
    partial = partial_files(out)
    broken = [p.name for p in rttms(out) if not _complete(p)]
    # A process killed by SIGKILL mid-write cannot remove its hidden temporary file; the
    # next batch on the folder does (checked after the resumed, SIGTERM-stopped run).
    tolerated = sig == signal.SIGKILL
    ok = not broken and (tolerated or not partial)
    detail = f"{len(rttms(out))} RTTMs kept, each whole"
    if partial:
        detail += f"; temporary files {partial}" + (
            " (for the next run to remove)" if tolerated else ""
        )
    if broken:
        detail += f"; incomplete RTTMs {broken}"
    checks.append(Check(f"{name}: no partial file", ok, detail))
    return checks


def _complete(path: Path) -> bool:
    """An RTTM is whole when every line has its ten fields and the file ends a line."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    return (not text or text.endswith("\n")) and all(len(line.split()) == 10 for line in lines)


def lock_check(in_dir: Path, out: Path, options: list[str], jobs: int, scratch: Path) -> Check:
    """A second batch on a folder a batch is writing to must be refused."""
    second = start(in_dir, out, options, jobs, scratch / "second.log")
    code = second.wait(300)
    message = second.message()
    ok = code == 1 and "in use by another diarize batch" in message
    last = message.splitlines()[-1] if message else "nothing"
    return Check("lock: second batch on the same folder refused", ok, f"exit {code}, said: {last}")


def compare(clean: Path, resumed: Path) -> list[Check]:
    names = [p.name for p in rttms(clean)] + list(COMPARED)
    differ = [n for n in names if not (resumed / n).is_file()]
    differ += [
        n
        for n in names
        if (resumed / n).is_file() and (clean / n).read_bytes() != (resumed / n).read_bytes()
    ]
    extra = sorted({p.name for p in rttms(resumed)} - {p.name for p in rttms(clean)})
    checks = [
        Check(
            "resume: byte-identical to the clean run",
            not differ and not extra,
            f"{len(names)} files compared ({len(names) - len(COMPARED)} RTTMs, "
            f"{', '.join(COMPARED)})"
            if not differ and not extra
            else f"differ: {differ}; only after the resume: {extra}",
        )
    ]

    def rows(out: Path) -> list[tuple]:
        files = json.loads((out / "report.json").read_text())["files"]
        return [(r["file"], r["duration"], r["speakers"]) for r in files]

    try:
        same = rows(clean) == rows(resumed)
        detail = "same files, durations and speaker counts" if same else "they differ"
    except (OSError, ValueError, KeyError) as exc:
        same, detail = False, f"unreadable: {exc}"
    checks.append(Check("resume: report.json agrees", same, detail))
    return checks


def run(num_files: int, seconds: float, jobs: int, scratch: Path, timeout: float) -> list[Check]:
    from diarize.batch import LOCK_FILE

    in_dir, options = make_corpus(scratch, num_files, seconds)
    clean, out = scratch / "clean", scratch / "out"
    checks: list[Check] = []

    batch = start(in_dir, clean, options, jobs, scratch / "clean.log")
    lock = clean / LOCK_FILE
    tic = time.monotonic()
    while not lock.exists() and batch.process.poll() is None and time.monotonic() - tic < 60:
        time.sleep(0.05)
    if batch.process.poll() is None:
        checks.append(lock_check(in_dir, clean, options, jobs, scratch))
    else:
        checks.append(Check("lock: second batch on the same folder refused", False, "no lock seen"))
    code = batch.wait(timeout)
    ok = code == 0 and len(rttms(clean)) == num_files
    checks.append(Check("clean: run to the end", ok, f"exit {code}, {len(rttms(clean))} RTTMs"))
    left, _ = wait_gone(batch.seen, 30.0)
    detail = f"{len(batch.seen)} seen, {len(left)} left"
    checks.append(Check("clean: no process left", not left, detail))

    killed = start(in_dir, out, options, jobs, scratch / "kill.log")
    checks += interrupt(killed, out, signal.SIGKILL, 0, num_files, timeout)
    done = len(rttms(out))
    terminated = start(in_dir, out, options, jobs, scratch / "term.log")
    checks += interrupt(terminated, out, signal.SIGTERM, done, num_files, timeout)
    stale = out / LOCK_FILE
    checks.append(
        Check(
            "SIGTERM: lock released",
            not stale.exists(),
            "removed" if not stale.exists() else "left",
        )
    )

    final = start(in_dir, out, options, jobs, scratch / "resume.log")
    code = final.wait(timeout)
    checks.append(
        Check("resume: run to the end", code == 0, f"exit {code}, {final.message() or 'quiet'}")
    )
    checks += compare(clean, out)
    return checks


# --- report ---------------------------------------------------------------------------------


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        cores = subprocess.run(
            ["nproc"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        cores = str(os.cpu_count())
    system = f"{platform.system()} {platform.release()}"
    return f"{model}, nproc {cores}, {system}, Python {platform.python_version()}"


def summary(checks: list[Check], seconds: float) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'PASS' if c.ok else 'FAIL'}  {c.name.ljust(width)}  {c.detail}" for c in checks]
    failed = sum(not c.ok for c in checks)
    verdict = "PASS" if not failed else f"FAIL ({failed} of {len(checks)} checks)"
    lines.append(f"{verdict}: {len(checks)} checks in {seconds:.0f} s")
    return "\n".join(lines)


def git_commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=12, help="recordings (default 12)")
    parser.add_argument("--seconds", type=float, default=54.0, help="length of each (54)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--timeout", type=float, default=300.0, help="per batch, seconds")
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    parser.add_argument("--out", type=Path, default=None, help="also write this Markdown record")
    args = parser.parse_args(argv)
    if not Path("/proc/self/stat").exists():
        print("FAIL: this check reads /proc (Linux)")
        return 2
    started = dt.datetime.now(dt.UTC)
    tic = time.monotonic()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="diarize-faults-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        checks = run(args.files, args.seconds, args.jobs, scratch, args.timeout)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    text = summary(checks, time.monotonic() - tic)
    print(text)
    if args.out is not None:
        command = "python -m benchmarks.faults" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
        args.out.write_text(
            "# Fault check of diarize batch: kill, terminate, resume\n\n"
            f"- date: {started:%Y-%m-%d %H:%M} UTC\n"
            f"- machine: {machine()}\n"
            f"- git commit: `{git_commit()}`\n"
            f"- command: `{command}`\n"
            f"- data: {args.files} synthetic recordings of about {args.seconds:.0f} s, "
            f"`--jobs {args.jobs}`, a small random encoder (see the docstring of "
            "benchmarks/faults.py for what each check does)\n\n"
            f"```\n{text}\n```\n"
        )
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
