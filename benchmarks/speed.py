"""Speed and memory on long recordings: 10 min, 1 h and 4 h, default and fast settings.

Extras: none beyond the install; the `resemblyzer` variant needs `bench`.

    python -m benchmarks.speed                  # all lengths, writes benchmarks/reports/SPEED.md
    python -m benchmarks.speed --lengths 600    # just 10 minutes

Inputs are built here by concatenating real conversations (the dev/ami excerpts when
../shared/data is present, otherwise examples/meeting.wav) with varying gain, written as
16 kHz 16-bit wav under scratch/speed/ (the ``telephone`` variants: the same through a
telephone channel, 8 kHz). Each run happens in a fresh child process whose
peak resident memory is read from the kernel (wait4 rusage), so the numbers include the
Python interpreter, torch and everything the pipeline allocates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import soundfile as sf

from diarize.audio import write_wav

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "scratch" / "speed"
DATA = ROOT.parent / "shared" / "data"
STAGES = ("load", "vad", "embed", "overlap", "cluster", "resegment")
VARIANTS = {
    "default": None,
    "fast": ROOT / "examples" / "fast.toml",
    "no-overlap": ROOT / "benchmarks" / "no-overlap.toml",  # --no-overlap
    "no-background": ROOT / "benchmarks" / "no-background.toml",
    "whole-background": ROOT / "benchmarks" / "whole-background.toml",
    "no-floor": ROOT / "benchmarks" / "no-floor.toml",
    "one-listen": ROOT / "benchmarks" / "one-listen.toml",
    # Baseline: the same pipeline with Resemblyzer's supervised encoder (pip install
    # resemblyzer); its threshold does not matter for speed.
    "resemblyzer": None,
    # The same input through the telephone channel of benchmarks.crossdomain (8-kHz wav):
    # embedded with the model's telephone-band batch-norm statistics, and without them.
    "telephone": None,
    "telephone-wideband-statistics": ROOT / "benchmarks" / "wideband-statistics.toml",
}


def sources() -> list[Path]:
    ami = sorted((DATA / "dev" / "ami" / "wav").glob("*.wav"))
    return ami or [ROOT / "examples" / "meeting.wav"]


def build_input(seconds: int) -> Path:
    """Concatenate source conversations (gain varied per copy) up to ``seconds``."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    path = SCRATCH / f"long_{seconds}s.wav"
    if path.exists() and sf.info(str(path)).frames == seconds * 16000:
        return path
    clips = [sf.read(str(p), dtype="float32")[0] for p in sources()]
    tmp = path.with_suffix(".tmp.wav")
    remaining, i = seconds * 16000, 0
    with sf.SoundFile(str(tmp), "w", 16000, 1, "PCM_16") as out:
        while remaining > 0:
            clip = clips[i % len(clips)] * (0.5 + 0.1 * (i % 6))
            out.write(clip[:remaining])
            remaining -= min(len(clip), remaining)
            i += 1
    os.replace(tmp, path)
    return path


def telephone_input(path: Path) -> Path:
    """``path`` through the telephone channel of ``benchmarks.crossdomain``, as 8-kHz wav."""
    from benchmarks.crossdomain import telephone_channel

    out = path.with_name(path.stem + "_telephone.wav")
    if not out.exists():
        x, rate = sf.read(str(path), dtype="float32")
        write_wav(out, telephone_channel(x, rate), 8000)
    return out


def child(path: str, config: str | None, model: str | None) -> None:
    """Run the pipeline once and print a JSON line with wall time and stage timings."""
    from diarize.config import load_config
    from diarize.pipeline import Pipeline

    tic = time.perf_counter()
    if model == "resemblyzer":
        from benchmarks.encoders import ResemblyzerEncoder

        pipeline = Pipeline(load_config(config), encoder=ResemblyzerEncoder())
    else:
        pipeline = Pipeline(load_config(config), model=model)
    setup = time.perf_counter() - tic
    tic = time.perf_counter()
    result = pipeline(path)
    wall = time.perf_counter() - tic
    print(
        json.dumps(
            {
                "setup": setup,
                "wall": wall,
                "timings": pipeline.timings,
                "speakers": result.num_speakers,
                "turns": len(result.turns),
            }
        )
    )


def measure(path: Path, config: Path | None, model: str | None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.speed", "--child", str(path)]
    if config is not None:
        cmd += ["--config", str(config)]
    if model is not None:
        cmd += ["--model", model]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"child failed on {path}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return result


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="600,3600,14400", help="seconds, comma-separated")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: shipped)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "reports" / "SPEED.md"))
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=3600,
        help="longest input (s) the resemblyzer baseline runs on",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--config", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.config, args.model)
        return
    lengths = [int(x) for x in args.lengths.split(",")]
    variants = args.variants.split(",")
    rows = []
    for seconds in lengths:
        path = build_input(seconds)
        for name in variants:
            if name == "resemblyzer" and seconds > args.baseline_max:
                continue
            model = "resemblyzer" if name == "resemblyzer" else args.model
            source = telephone_input(path) if name.startswith("telephone") else path
            try:
                r = measure(source, VARIANTS[name], model)
            except RuntimeError as exc:
                print(f"{name}: {exc}", flush=True)
                continue
            r.update(seconds=seconds, variant=name, rtf=r["wall"] / seconds)
            rows.append(r)
            stages = ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items())
            print(
                f"{seconds / 60:6.0f} min {name:8s} wall {r['wall']:7.1f} s  "
                f"RTF {r['rtf']:.4f}  peak RSS {r['peak_rss_mb']:6.0f} MB  "
                f"speakers {r['speakers']}  [{stages}]",
                flush=True,
            )
    lines = [
        "# Speed and memory on long recordings",
        "",
        f"- date: {dt.date.today().isoformat()}",
        f"- machine: {machine()}",
        f"- command: `python -m benchmarks.speed --lengths {args.lengths} "
        f"--variants {args.variants}`",
        f"- input: concatenated {'dev/ami excerpts' if DATA.exists() else 'examples/meeting.wav'}"
        " with varied gain, 16 kHz 16-bit wav",
        "- wall: the pipeline call on the file (model already loaded); peak RSS: the whole "
        "child process (interpreter, torch, model, audio)",
        "",
        "| length | variant | wall (s) | RTF | peak RSS (MB) | load | vad | embed | overlap | "
        "cluster | resegment | speakers |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["timings"]
        lines.append(
            f"| {r['seconds'] / 60:.0f} min | {r['variant']} | {r['wall']:.1f} | "
            f"{r['rtf']:.4f} | {r['peak_rss_mb']:.0f} | "
            + " | ".join(f"{t.get(k, 0.0):.1f}" for k in STAGES)
            + f" | {r['speakers']} |"
        )
    base = {r["variant"]: r for r in rows if r["seconds"] == lengths[0]}
    lines += ["", "Growth relative to the shortest input (wall time / peak RSS):", ""]
    for r in rows:
        b = base.get(r["variant"])
        if b is None:
            continue
        growth = r["seconds"] / lengths[0]
        lines.append(
            f"- {r['variant']} {r['seconds'] / 60:.0f} min: length x{growth:.0f}, "
            f"wall x{r['wall'] / b['wall']:.1f}, "
            f"peak RSS x{r['peak_rss_mb'] / b['peak_rss_mb']:.2f}"
        )
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
