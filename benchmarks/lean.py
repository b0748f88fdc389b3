"""The lean install against the torch path, side by side: install size and time, start to
exit on the example, a 10-minute file end to end (RTF, peak memory), in one run.

    python -m benchmarks.lean                  # writes benchmarks/reports/LEAN.md
    python -m benchmarks.lean --der            # and DER of both: benchmarks/reports/LEAN-DER.md
    python -m benchmarks.lean --reuse          # keep scratch/lean/v from an earlier run

What is measured, each in a fresh process whose wall time (process start to exit), CPU time
and peak resident memory come from the kernel (``os.wait4``):

* the lean path: a new virtual environment made exactly as the README says (``python3 -m
  venv v && v/bin/pip install -e .``; its time, its size on disk, and that it holds no torch),
  running ``v/bin/diarize AUDIO`` with the shipped ONNX model;
* the torch path: the same checkout in an environment with the ``train`` extra (``--torch
  -python``, default ``.venv/bin/python``), running ``python -m diarize.cli AUDIO --model
  models/encoder-v5.pt`` (the checkpoint, run by torch with the torch front end).

Runs alternate between the two paths after one unmeasured warm-up each (disk cache), and the
report gives the median and the best of the repeats. Both paths must write the same RTTM. The
10-minute input is ``benchmarks.speed``'s (dev/ami excerpts concatenated when ../shared/data
is present). Needs no extra itself; ``--der`` runs ``benchmarks.der`` in the torch path's
environment, which needs the ``score`` extra there too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "scratch" / "lean"
EXAMPLE = ROOT / "examples" / "meeting.wav"
CHECKPOINT = ROOT / "models" / "encoder-v5.pt"


def run(cmd: list[str], out: Path | None = None, env: dict | None = None) -> dict:
    """Run ``cmd`` from the repository root; wall time from just before the process starts to
    its exit, CPU time and peak RSS of the process (its children included)."""
    start = time.perf_counter()
    stdout = open(out, "wb") if out is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    finally:
        if out is not None:
            stdout.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err.strip()[-2000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
    }


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


def lean_venv(reuse: bool) -> tuple[Path, dict]:
    """The README's install in scratch/lean/v: its time, size and package list."""
    venv = SCRATCH / "v"
    info: dict = {"path": str(venv.relative_to(ROOT))}
    if reuse and (venv / "bin" / "diarize").exists():
        info["reused"] = True
    else:
        shutil.rmtree(venv, ignore_errors=True)
        SCRATCH.mkdir(parents=True, exist_ok=True)
        tic = time.perf_counter()
        subprocess.run(["python3", "-m", "venv", str(venv)], cwd=ROOT, check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "-e", "."],
            cwd=ROOT,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        info["install_seconds"] = time.perf_counter() - tic
    info["size_mb"] = du_mb(venv)
    listing = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    packages = {p["name"].lower(): p["version"] for p in json.loads(listing.stdout)}
    info["packages"] = packages
    info["has_torch"] = any(name.startswith("torch") for name in packages)
    return venv, info


def python_info(python: str) -> dict:
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        "for name in ('torch', 'onnxruntime', 'numpy', 'scipy'):\n"
        "    try:\n        out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n        pass\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def import_ms(python: str, modules: str) -> float:
    """Cumulative import time of ``modules`` (``python -X importtime``), milliseconds."""
    out = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {modules}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and not parts[2].startswith("  ") and parts[1].strip().isdigit():
            total += int(parts[1])  # top-level imports only
    return total / 1000


def machine() -> dict:
    model = platform.processor() or "unknown CPU"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    busy = subprocess.run(
        ["ps", "-eo", "pcpu,ni,comm", "--sort=-pcpu"], capture_output=True, text=True
    ).stdout.splitlines()[1:6]
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "load": os.getloadavg(),
        "busy": [line.strip() for line in busy if float(line.split()[0]) >= 10.0],
    }


def commit() -> str:
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return rev + (" (with uncommitted changes)" if dirty else "")


def side_by_side(paths: dict[str, list[str]], audio: Path, repeats: int, tag: str) -> dict:
    """Each path once unmeasured, then ``repeats`` alternating measured runs; RTTMs compared."""
    out = {name: [] for name in paths}
    rttm = {name: SCRATCH / f"{tag}-{name}.rttm" for name in paths}
    for name, cmd in paths.items():
        run([*cmd, str(audio)], rttm[name])
    for _ in range(repeats):
        for name, cmd in paths.items():
            out[name].append(run([*cmd, str(audio)], rttm[name]))
    texts = {name: path.read_bytes() for name, path in rttm.items()}
    same = len(set(texts.values())) == 1
    return {"runs": out, "same_rttm": same, "turns": texts[next(iter(texts))].count(b"\n")}


def summary(runs: list[dict], key: str) -> tuple[float, float]:
    values = [r[key] for r in runs]
    return statistics.median(values), min(values)


def _der_tables(text: str) -> dict[str, dict]:
    """From a benchmarks.der report: per set, the cells of the shipped row."""
    out = {}
    for section in text.split("\n## ")[1:]:
        name = section.split("\n", 1)[0].strip()
        rows = [line for line in section.splitlines() if line.startswith("| ")]
        summary = next((r for r in rows if r.startswith("| shipped |")), None)
        if summary is not None:
            out[name] = {"summary": [c.strip() for c in summary.split("|")[1:-1]], "files": {}}
    return out


def der_comparison(torch_python: str) -> Path:
    """DER of the shipped pipeline with the ONNX export and with the checkpoint."""
    tables = {}
    for name, model in (("onnx", "models/encoder-v5.onnx"), ("torch", "models/encoder-v5.pt")):
        report = SCRATCH / f"der-{name}.md"
        command = [torch_python, "-m", "benchmarks.der", "--variants", "shipped"]
        command += ["--model", model, "--out", str(report)]
        done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
        tables[name] = _der_tables(report.read_text(encoding="utf-8"))
        # Per-file DER and speakers found, as benchmarks.der logs them, set by set.
        for line in done.stdout.splitlines():
            match = re.match(r"\s+shipped (\S+): DER\s+([\d.]+) %\s+speakers (\d+)/", line)
            if match:
                set_name = "ami" if match.group(1).startswith("ami") else "sim"
                files = tables[name].setdefault(set_name, {}).setdefault("files", {})
                files[match.group(1)] = f"{match.group(2)} ({match.group(3)})"
    lines = [
        "# DER of the ONNX export against the checkpoint it came from",
        "",
        f"- date: {dt.date.today().isoformat()}; commit {commit()}",
        "- command: `python -m benchmarks.lean --der`, which runs `python -m benchmarks.der "
        "--variants shipped --model MODEL` for both models in the torch path's environment "
        "(same speech detector, clustering and resegmentation; the encoder and its front end "
        "differ: ONNX Runtime on the numpy front end, torch on the torch front end)",
        "- DER: collar 0, overlap scored; c.25: pyannote collar 0.5 (0.25 s each side), "
        "overlap skipped; corpus totals, % of reference speech",
        "",
        "| set | model | DER | DER c.25 no-ovl | JER | miss | FA | conf |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for set_name in tables["onnx"]:
        for name in ("onnx", "torch"):
            cells = tables[name].get(set_name, {}).get("summary", [])
            if len(cells) >= 8:
                lines.append(f"| {set_name} | {name} | " + " | ".join(cells[2:8]) + " |")
    for set_name in tables["onnx"]:
        a = tables["onnx"][set_name]["files"]
        b = tables["torch"].get(set_name, {}).get("files", {})
        same = a == b
        lines += [
            "",
            f"{set_name}, DER per file (% and speakers found): "
            + ("identical for every file" if same else "DIFFERENT"),
            "",
            "| file | onnx | torch |",
            "|---|---|---|",
        ]
        lines += [f"| {f} | {a[f]} | {b.get(f, '-')} |" for f in a]
    path = ROOT / "benchmarks" / "reports" / "LEAN-DER.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--repeats", type=int, default=5, help="measured runs per path (example)")
    parser.add_argument("--long-repeats", type=int, default=3, help="... (10-minute file)")
    parser.add_argument("--seconds", type=int, default=600, help="length of the long input")
    parser.add_argument("--reuse", action="store_true", help="reuse scratch/lean/v")
    parser.add_argument("--der", action="store_true", help="also the DER of both paths")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "reports" / "LEAN.md"))
    args = parser.parse_args()

    from benchmarks.speed import build_input

    host = machine()
    print(f"machine: {host['cpu']}, {host['nproc']} cores, load {host['load']}", flush=True)
    venv, install = lean_venv(args.reuse)
    print(
        f"lean install: {install.get('install_seconds', float('nan')):.0f} s, "
        f"{install['size_mb']:.0f} MB, torch: {install['has_torch']}",
        flush=True,
    )
    torch_python = args.torch_python
    torch_versions = python_info(torch_python)
    if "torch" not in torch_versions:
        sys.exit(f"{torch_python} has no torch: give --torch-python of a train-extra install")
    torch_prefix = Path(torch_python).absolute().parent.parent  # the venv, links unresolved
    torch_env = {"size_mb": du_mb(torch_prefix), "versions": torch_versions}
    paths = {
        "onnx": [str(venv / "bin" / "diarize")],
        "torch": [torch_python, "-m", "diarize.cli", "run", "--model", str(CHECKPOINT)],
    }
    shown_prefix = (
        torch_prefix.relative_to(ROOT) if torch_prefix.is_relative_to(ROOT) else torch_prefix
    )
    shown = {  # the commands as the report shows them, relative to the repository
        name: " ".join(
            str(Path(a).relative_to(ROOT))
            if Path(a).is_absolute() and Path(a).is_relative_to(ROOT)
            else a
            for a in cmd
        )
        for name, cmd in paths.items()
    }
    imports = {
        "onnx": import_ms(str(venv / "bin" / "python"), "diarize.cli, diarize.pipeline"),
        "torch": import_ms(torch_python, "diarize.cli, diarize.pipeline, diarize.nn"),
    }
    example = side_by_side(paths, EXAMPLE, args.repeats, "example")
    for name, runs in example["runs"].items():
        print(f"example {name}: wall {summary(runs, 'wall')}", flush=True)
    long_input = build_input(args.seconds)
    longrun = side_by_side(paths, long_input, args.long_repeats, "long")
    for name, runs in longrun["runs"].items():
        print(f"{args.seconds} s {name}: wall {summary(runs, 'wall')}", flush=True)
    host_after = machine()

    def row(label, runs, seconds=None):
        wall = summary(runs, "wall")
        cpu = summary(runs, "cpu")
        rss = max(r["rss_mb"] for r in runs)
        rtf = f" | {wall[0] / seconds:.4f} / {wall[1] / seconds:.4f}" if seconds else ""
        return (
            f"| {label} | {wall[0]:.2f} / {wall[1]:.2f}{rtf} | {cpu[0]:.2f} / {cpu[1]:.2f} "
            f"| {rss:.0f} |"
        )

    lean_pkgs = install["packages"]
    lines = [
        "# Lean install: ONNX Runtime path against the torch path",
        "",
        f"- date: {dt.date.today().isoformat()}; commit {commit()}",
        f"- machine: {host['cpu']}, nproc {host['nproc']}, Python {host['python']}; load "
        f"average (1/5/15 min) {', '.join(f'{x:.2f}' for x in host['load'])} before, "
        f"{', '.join(f'{x:.2f}' for x in host_after['load'])} after",
        "- other processes over 10 % of a core at the start: "
        + ("; ".join(f"`{b}`" for b in host["busy"]) if host["busy"] else "none"),
        "- command: `python -m benchmarks.lean" + (" --reuse" if args.reuse else "") + "`",
        *(
            [
                "- the machine was busy (load average above 0.75 per core): wall times "
                "include waiting for the CPU; compare the two paths within this run"
            ]
            if max(host["load"][0], host_after["load"][0]) > 0.75 * (host["nproc"] or 1)
            else []
        ),
        "",
        "## Install",
        "",
        "| | lean: `python3 -m venv v && v/bin/pip install -e .` | torch path (train and "
        "dev extras) |",
        "|---|---|---|",
        f"| size on disk | {install['size_mb']:.0f} MB | {torch_env['size_mb']:.0f} MB |",
        "| install time | "
        + (
            f"{install['install_seconds']:.0f} s (pip's cache as found)"
            if "install_seconds" in install
            else "not measured (--reuse)"
        )
        + " | not measured |",
        f"| torch | {'yes' if install['has_torch'] else 'none'} | {torch_versions.get('torch')} |",
        f"| onnxruntime / numpy / scipy | {lean_pkgs.get('onnxruntime')} / "
        f"{lean_pkgs.get('numpy')} / {lean_pkgs.get('scipy')} | "
        f"{torch_versions.get('onnxruntime')} / {torch_versions.get('numpy')} / "
        f"{torch_versions.get('scipy')} |",
        f"| imports (`-X importtime`, top level) | {imports['onnx']:.0f} ms | "
        f"{imports['torch']:.0f} ms |",
        "",
        f"Lean environment: {len(lean_pkgs)} packages: "
        + ", ".join(f"{k} {v}" for k, v in sorted(lean_pkgs.items())),
        "",
        "## Speed and memory, process start to exit",
        "",
        "Each command writes RTTM to a file; wall time median / best of the repeats (after one "
        "unmeasured run each), CPU time (user + system) median / best, the largest peak RSS.",
        "",
        f"- lean: `{shown['onnx']} AUDIO` (the shipped `models/encoder-v5.onnx`)",
        f"- torch: `{shown['torch']} AUDIO` (its environment: `{shown_prefix}`, "
        f"{torch_env['size_mb']:.0f} MB with torch {torch_versions['torch']}"
        + (
            "; PyPI's default torch for Linux is the CUDA build, several GB more)"
            if "+cpu" in str(torch_versions["torch"])
            else ", PyPI's CUDA build)"
        ),
        "",
        f"`examples/meeting.wav` (41.7 s), {args.repeats} runs each; same RTTM from both: "
        f"{'yes' if example['same_rttm'] else 'NO'}",
        "",
        "| path | wall (s) | CPU (s) | peak RSS (MB) |",
        "|---|---|---|---|",
        row("lean (ONNX)", example["runs"]["onnx"]),
        row("torch", example["runs"]["torch"]),
        "",
        f"`{long_input.relative_to(ROOT)}` ({args.seconds / 60:.0f} min), "
        f"{args.long_repeats} runs each; same RTTM from both: "
        f"{'yes' if longrun['same_rttm'] else 'NO'}",
        "",
        "| path | wall (s) | RTF | CPU (s) | peak RSS (MB) |",
        "|---|---|---|---|---|",
        row("lean (ONNX)", longrun["runs"]["onnx"], args.seconds),
        row("torch", longrun["runs"]["torch"], args.seconds),
        "",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (SCRATCH / "lean.json").write_text(
        json.dumps(
            {
                "install": install,
                "torch_env": torch_env,
                "example": example,
                "long": longrun,
                "imports": imports,
                "machine": [host, host_after],
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")
    if args.der:
        print(f"wrote {der_comparison(torch_python)}")


if __name__ == "__main__":
    main()
