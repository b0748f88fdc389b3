"""Train the shipped recipe (``v1-aug.toml``) and variants of it side by side, one process each.

Extras: `train`.

    python -m benchmarks.encoder.recipe_sweep --pack .pack --out OUT [--device cuda]
        [--only NAME,NAME] [--minutes 6.4]

Each run trains on the packed LibriSpeech train-clean-100 recordings (``PACK/ls-train``, made
by ``python -m benchmarks.encoder.pack``) with the pack's noise and room responses, validates
on ``PACK/test-other`` every 250 steps, and writes its final encoder to ``OUT/NAME.pt`` (the
resumable state goes to a temporary folder). The ``all-*`` runs start from ``v3.toml``
(encoder-v1 fine-tuned) or ``v2.toml`` (a random start) and train on all 7.5 h:
``PACK/ls-train``, ``PACK/so762-train`` and ``PACK/picovoice`` in that order (``pack --opus``
here, then ``pack --decode`` where the runs are). Calibrate each with ``models/fit_backend.sh
OUT/NAME.pt DATA OUT/NAME-cal.pt`` and compare them with ``python -m
benchmarks.encoder.recipe_der``. The validation lines of every run are printed at the end.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
RECIPE = ROOT / "benchmarks" / "encoder" / "v1-aug.toml"
ALL_DATA = ("ls-train", "so762-train", "picovoice")
# encoder-v1 fine-tuned on all the data / a random start on all the data; a checkpoint every
# 2.5 min, so that a run cut short by the machine's time limit still leaves its weights
FT = {"_recipe": "v3.toml", "_data": ALL_DATA, "checkpoint_minutes": 2.5}
SCRATCH = {"_recipe": "v2.toml", "_data": ALL_DATA, "checkpoint_minutes": 2.5}
# Schedules: steps and the two pseudo-label rounds (fine-tuning starts them at a third)
K1 = {"num_steps": 1000, "pseudo_start_step": 350, "pseudo_every_steps": 325}
K2 = {"num_steps": 2000, "pseudo_start_step": 700, "pseudo_every_steps": 650}
K3 = {"num_steps": 3000, "pseudo_start_step": 1000, "pseudo_every_steps": 1000}
K2_SCRATCH = {"num_steps": 2000, "pseudo_start_step": 1000, "pseudo_every_steps": 500}
EQUAL = (1.0, 1.0, 1.0)  # source_weights: LibriSpeech, speechocean762, Picovoice
LS3 = (3.0, 1.0, 1.0)
MID_AUG = {
    "augment.p_reverb": 0.2,
    "augment.p_noise": 0.3,
    "augment.snr_db": (5.0, 25.0),
    "augment.p_eq": 0.25,
    "augment.p_bandlimit": 0.05,
}

RUNS: dict[str, dict] = {
    "s0": {},
    "s1": {"seed": 1},
    "s2": {"seed": 2},
    "s3": {"seed": 3},
    "s4": {"seed": 4},
    "k2": {"num_steps": 2000, "pseudo_start_step": 1000, "pseudo_every_steps": 500},
    "k3": {"num_steps": 3000, "pseudo_start_step": 1500, "pseudo_every_steps": 750},
    "b256": {"batch_size": 256},
    "b256s1": {"batch_size": 256, "seed": 1},
    "b256s2": {"batch_size": 256, "seed": 2},
    "b256s3": {"batch_size": 256, "seed": 3},
    "b256s4": {"batch_size": 256, "seed": 4},
    "b512": {"batch_size": 512},
    "b512s1": {"batch_size": 512, "seed": 1},
    "rev": {"augment.p_reverb": 0.7},
    "ps3": {"pseudo_rounds": 3, "pseudo_start_step": 400, "pseudo_every_steps": 200},
    "b256ps3": {
        "batch_size": 256,
        "pseudo_rounds": 3,
        "pseudo_start_step": 400,
        "pseudo_every_steps": 200,
    },
    # all 7.5 h
    "all-ft": FT,
    "all-ft-s1": {**FT, "seed": 1},
    "all-ft-s2": {**FT, "seed": 2},
    "all-ft-eq": {**FT, "source_weights": EQUAL},
    "all-ft-b256": {**FT, **K1, "batch_size": 256},
    "all-ft-mid": {**FT, **K1, **MID_AUG},
    "all-ft-k2": {**FT, **K2},
    "all-ft-k2s1": {**FT, **K2, "seed": 1},
    "all-ft-k2s2": {**FT, **K2, "seed": 2},
    "all-ft-k2-eq": {**FT, **K2, "source_weights": EQUAL},
    "all-ft-k2-ls3": {**FT, **K2, "source_weights": LS3},
    "all-ft-k2-b256": {**FT, **K2, "batch_size": 256},
    "all-ft-k2-mid": {**FT, **K2, **MID_AUG},
    "all-ft-k3": {**FT, **K3},
    "all-ft-k3s1": {**FT, **K3, "seed": 1},
    "all-ft-k3-ls3": {**FT, **K3, "source_weights": LS3},
    "all-ft-k3s2": {**FT, **K3, "seed": 2},
    **{f"all-ft-k2s{k}": {**FT, **K2, "seed": k} for k in range(3, 9)},
    # false-negative elimination: each view's nearest negatives left out of the softmax
    "all-ft-k3-fn2": {**FT, **K3, "drop_nearest": 2},
    "all-ft-k3-fn8": {**FT, **K3, "drop_nearest": 8},
    "all-ft-k3-b256-fn4": {**FT, **K3, "batch_size": 256, "drop_nearest": 4},
    "all-ft-k3-lr5": {**FT, **K3, "learning_rate": 5e-4},
    # window lengths drawn between 1.5 and 3 s
    "all-ft-k3-w3": {**FT, **K3, "window_max_seconds": 3.0},
    "all-ft-k3-rev": {**FT, **K3, "augment.p_reverb": 0.7},
    # encoder-v5 trained on for another 3000 steps at half its learning rate
    "v5-more": {**FT, **K3, "init": str(ROOT / "models" / "encoder-v5.pt"), "learning_rate": 5e-4},
    "all-sc": {**SCRATCH, **K2_SCRATCH},
    "all-sc-w": {**SCRATCH, **K2_SCRATCH, "channels": 384, "pool_channels": 768},
}


def recipe_of(name: str) -> tuple[Path, tuple[str, ...], dict]:
    """The recipe file a run starts from, the pack folders it trains on (in order), and its
    overrides of that recipe."""
    run = dict(RUNS[name])
    recipe = RECIPE.with_name(run.pop("_recipe", RECIPE.name))
    return recipe, tuple(run.pop("_data", ("ls-train",))), run


def child(name: str, args: argparse.Namespace) -> None:
    import torch

    from diarize.train.loop import Trainer, load_train_config

    torch.set_num_threads(1)
    pack = Path(args.pack)
    recipe, data, run = recipe_of(name)
    overrides = {
        "data": tuple(str(pack / d) for d in data),
        "noise": (str(pack / "noise"),),
        "rir": (str(pack / "rir"),),
        "eval_data": str(pack / "test-other"),
        "out": str(Path(args.out) / f"{name}.pt"),
        "state": str(Path(args.work) / f"{name}.state.pt"),
        "device": args.device,
        "threads": 1,
        "validate_steps": 250,
        "checkpoint_minutes": 1000.0,
        "max_minutes": args.minutes,
        **run,
    }
    if args.smoke:
        overrides.update(
            num_steps=4, batch_size=16, validate_steps=2, pseudo_start_step=2, pseudo_every_steps=1
        )
    tic = time.perf_counter()
    Trainer(load_train_config(recipe, overrides)).run()
    print(f"{name} wall {time.perf_counter() - tic:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", default=".pack")
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--minutes", type=float, default=6.4, help="per run; then it stops")
    parser.add_argument("--only", default="", help="comma-separated names (default: all)")
    parser.add_argument("--smoke", action="store_true", help="4 tiny steps per run")
    parser.add_argument("--logs", default="", help="keep each run's log and state here")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--work", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        child(args.child, args)
        return
    Path(args.out).mkdir(parents=True, exist_ok=True)
    names = [n for n in args.only.split(",") if n] or list(RUNS)
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        parser.error(f"unknown run(s): {', '.join(unknown)}; known: {', '.join(RUNS)}")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.logs or tmp
        Path(work).mkdir(parents=True, exist_ok=True)
        procs = {}
        for name in names:
            cmd = [sys.executable, "-m", "benchmarks.encoder.recipe_sweep", "--child", name]
            cmd += [f"--pack={args.pack}", f"--out={args.out}", f"--device={args.device}"]
            cmd += [f"--minutes={args.minutes}", f"--work={work}"] + (
                ["--smoke"] if args.smoke else []
            )
            log = open(Path(work) / f"{name}.log", "w")  # noqa: SIM115 (closed below)
            procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
        for name, (proc, log) in procs.items():
            proc.wait()
            log.close()
            lines = (Path(work) / f"{name}.log").read_text(errors="replace").splitlines()
            keep = [
                ln for ln in lines if any(k in ln for k in ("validation", "wall", "rror", "kept"))
            ]
            print(f"===== {name} (exit {proc.returncode})")
            print("\n".join(keep[-14:]), flush=True)


if __name__ == "__main__":
    main()
