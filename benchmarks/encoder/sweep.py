"""Recipe sweep: several training configurations at once (one process each, e.g. on one GPU),
each for a fixed number of steps or minutes, each logging its validation/test EER curve.

Extras: `train`.

    python -m benchmarks.encoder.sweep --pack .pack --out OUT [--device cuda] [--minutes 6.5]
        [--steps 3000] [--only NAME,NAME] [--smoke]

Every configuration is the base recipe plus the overrides in ``RECIPES``. Curves are appended
to OUT/curves.jsonl as they come ({"name", "step", "minutes", "val_eer_1.5", ...}); at the end
OUT/summary.md holds the last and best points of each curve and OUT/logs.txt each run's log tail.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

BASE: dict = {
    "loss": "ntxent",
    "temperature": 0.1,
    "batch_size": 128,
    "window_seconds": 1.5,
    "max_gap_seconds": 0.5,
    "validate_steps": 250,
    "checkpoint_minutes": 1000.0,
}

NO_AUG = {
    "augment.p_reverb": 0.0,
    "augment.p_noise": 0.0,
    "augment.p_eq": 0.0,
    "augment.p_bandlimit": 0.0,
    "augment.time_masks": 0,
    "augment.freq_masks": 0,
}

RECIPES: dict[str, dict] = {
    "base": {},
    "queue4k": {"queue_size": 4096},
    "pseudo3": {"pseudo_rounds": 3, "pseudo_start_step": 800, "pseudo_every_steps": 600},
    "weak-aug": NO_AUG,
    "speed5": {"augment.speed": 0.05, "augment.p_speed": 0.5},
    "win1-2.5": {"window_seconds": 1.0, "window_max_seconds": 2.5},
    "barlow": {"loss": "barlow", "projector_dim": 1024, "learning_rate": 1e-3},
    "wide": {"channels": 384, "pool_channels": 768},
    "proj256": {"projector_dim": 256},
    "tau0.2": {"temperature": 0.2},
    "supervised": {"supervised": True},
    "combo": {
        "queue_size": 4096,
        "pseudo_rounds": 3,
        "pseudo_start_step": 800,
        "pseudo_every_steps": 600,
        "augment.speed": 0.05,
        "augment.p_speed": 0.5,
    },
}

# Second round: around the winner of the first (gain only).
RECIPES.update(
    {
        "w-base": NO_AUG,
        "w-pseudo3": {
            **NO_AUG,
            "pseudo_rounds": 3,
            "pseudo_start_step": 800,
            "pseudo_every_steps": 600,
        },
        "w-speed5": {**NO_AUG, "augment.speed": 0.05, "augment.p_speed": 0.5},
        "w-noise-mild": {**NO_AUG, "augment.p_noise": 0.3, "augment.snr_db": (10.0, 30.0)},
        "w-reverb": {**NO_AUG, "augment.p_reverb": 0.3},
        "w-masks": {**NO_AUG, "augment.time_masks": 1, "augment.freq_masks": 1},
        "w-wide": {**NO_AUG, "channels": 384, "pool_channels": 768},
        "w-win1-2.5": {**NO_AUG, "window_seconds": 1.0, "window_max_seconds": 2.5},
        "w-eq": {**NO_AUG, "augment.p_eq": 0.5},
        "w-supervised": {**NO_AUG, "supervised": True},
    }
)


def child(name: str, args: argparse.Namespace) -> None:
    import torch

    from diarize.train.loop import Trainer, load_train_config

    torch.set_num_threads(args.threads)
    pack = Path(args.pack)
    overrides = {
        **BASE,
        **RECIPES[name],
        "data": tuple(str(pack / d) for d in args.data.split(",")),
        "noise": (str(pack / "noise"),),
        "rir": (str(pack / "rir"),),
        "eval_data": str(pack / "test-other"),
        "out": str(Path(args.work) / name / "encoder.pt"),
        "num_steps": args.steps,
        "max_minutes": args.minutes,
        "device": args.device,
        "threads": args.threads,
        "seed": 0,
    }
    if args.smoke:
        overrides.update(validate_steps=2, num_steps=4, batch_size=16)
        if overrides.get("pseudo_rounds"):
            overrides.update(pseudo_start_step=2, pseudo_every_steps=1)
    Path(args.work, name).mkdir(parents=True, exist_ok=True)
    config = load_train_config(None, overrides)
    trainer = Trainer(config)
    curves = Path(args.out) / "curves.jsonl"
    validate = trainer.validate
    t0 = time.monotonic()

    def logged() -> dict:
        record = validate()
        line = {"name": name, "wall_minutes": round((time.monotonic() - t0) / 60, 2), **record}
        with open(curves, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        return record

    trainer.validate = logged
    trainer.run()


def summarise(out: Path) -> str:
    curves: dict[str, list[dict]] = {}
    path = out / "curves.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            curves.setdefault(rec["name"], []).append(rec)
    keys = ["val_eer_1.5", "val_eer_3", "test_eer_1.5", "test_eer_3"]
    lines = ["| recipe | steps | train min | " + " | ".join(keys) + " | best val 1.5 (step) |"]
    lines.append("|---|---|---|" + "---|" * len(keys) + "---|")
    for name, recs in curves.items():
        last = recs[-1]
        best = min(recs, key=lambda r: r.get("val_eer_1.5", 1e9))
        lines.append(
            f"| {name} | {int(last['step'])} | {last['minutes']} | "
            + " | ".join(str(last.get(k, "")) for k in keys)
            + f" | {best.get('val_eer_1.5')} ({int(best['step'])}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pack", default=".pack")
    parser.add_argument("--data", default="ls-train", help="pack folders to train on")
    parser.add_argument("--out", default=os.environ.get("OUT", "scratch/sweep"))
    parser.add_argument("--work", default="/tmp/sweep")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--minutes", type=float, default=6.5)
    parser.add_argument("--deadline", type=float, default=8.0, help="minutes; then kill")
    parser.add_argument("--only", default="")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--child", default="")
    args = parser.parse_args()
    if args.child:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        child(args.child, args)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.only.split(",") if n] or list(RECIPES)
    procs = {}
    for name in names:
        log = open(Path(args.work + f"-{name}.log"), "w")
        cmd = [sys.executable, "-m", "benchmarks.encoder.sweep", "--child", name]
        cmd += [f"--{k}={v}" for k, v in vars(args).items() if k not in ("child", "only", "smoke")]
        cmd += ["--smoke"] if args.smoke else []
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    t0 = time.monotonic()
    while any(p.poll() is None for p, _ in procs.values()):
        if time.monotonic() - t0 > args.deadline * 60:
            for p, _ in procs.values():
                if p.poll() is None:
                    p.kill()
            break
        time.sleep(5)
        (out / "summary.md").write_text(summarise(out))
    tails = []
    for name, (p, log) in procs.items():
        log.close()
        text = Path(args.work + f"-{name}.log").read_text(errors="replace")
        tails.append(f"===== {name} (exit {p.poll()})\n{text[-3000:]}")
    (out / "logs.txt").write_text("\n".join(tails))
    (out / "summary.md").write_text(summarise(out))
    print(summarise(out))


if __name__ == "__main__":
    main()
