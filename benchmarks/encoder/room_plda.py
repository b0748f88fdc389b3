"""A checkpoint's PLDA re-estimated on its back end's recordings, a random share of them, or
them plus copies in simulated rooms with noise: how much the back end alone moves DER.

Extras: `train`. Needs ../shared/data (or other unlabeled recordings).

    python -m benchmarks.encoder.room_plda models/encoder-v5.pt runs/plda/rooms.pt \\
        --rooms 1 --snr 10 30 --drr 3 15 --seed 1
    python -m benchmarks.encoder.room_plda models/encoder-v5.pt runs/plda/sub1.pt \\
        --subset 0.8 --seed 1
    diarize export runs/plda/rooms.pt
    python -m benchmarks.draws --seeds 0,202,303,404,505 --section cluster \\
        --settings '[{"narrowband_plda": true}]' --model runs/plda/rooms.onnx --out ...

The shipped PLDA (``diarize fit-backend``) is estimated on the 1.5 s windows of LibriSpeech
recordings, each recording clustered on its own into pseudo-speakers. Meetings are far
from that: reverberant rooms, distant microphones. This repeats those steps and, with
``--rooms N``, adds N copies of every recording, each in one simulated room (the encoder
trainer's synthetic responses, ``diarize.train.augment.simulated_rirs``, at a
direct-to-reverberant ratio in ``--drr``) with white or brown noise (high-passed at 40 Hz)
at an SNR in ``--snr``. A copy's windows are cut where the clean recording's speech is and
take the pseudo-speaker of their clean twin, so the room and the noise fall within a
speaker, which is what PLDA learns to discount. ``--subset F`` estimates it on a random
share F of the recordings instead (a bootstrap of the back end's own data); ``--rank R``
keeps R dimensions (largest between/within ratio) instead of the calibration's 128.
Everything else in the checkpoint stays; its old PLDA (if any) is stored as the
telephone-band PLDA (``extra["narrowband_plda"]``), so that ``[cluster] narrowband_plda =
true`` scores telephone-band input exactly as before.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import torch
from scipy.signal import fftconvolve

from benchmarks.plda_data import SOURCES
from diarize import audio as audio_io
from diarize.backend import fit_plda, pseudo_labels
from diarize.calibrate import CalibrationConfig, list_audio
from diarize.config import EmbedConfig
from diarize.embed import extract
from diarize.nn import load_checkpoint, save_encoder
from diarize.train.augment import simulated_rirs
from diarize.vad import detect_speech

SAMPLE_RATE = 16000


def in_room(
    x: np.ndarray,
    rng: np.random.Generator,
    snr_db: tuple[float, float],
    drr_db: tuple[float, float],
    p_room: float = 1.0,
) -> np.ndarray:
    """``x`` in one simulated room (with probability ``p_room``) with white or brown noise
    at a random SNR, peak 0.5."""
    y = x.astype(np.float64)
    if rng.random() < p_room:
        y = fftconvolve(y, simulated_rirs(rng, 1, SAMPLE_RATE, drr_db)[0])[: len(x)]
    white = rng.random() >= 0.5
    noise = rng.standard_normal(len(y))
    if not white:
        noise = np.cumsum(noise)
    noise -= np.convolve(noise, np.ones(400) / 400, mode="same")  # high-pass, about 40 Hz
    snr = rng.uniform(*snr_db)
    level = np.mean(y[y != 0] ** 2) if np.any(y) else 1.0
    y = y + noise * np.sqrt(level / np.mean(noise**2) / 10 ** (snr / 10))
    return (y / max(np.abs(y).max(), 1e-9) * 0.5).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument(
        "--data", nargs="+", default=[str(SOURCES["ls"])],
        help="folders or .lst files (default: the back end's LibriSpeech recordings)",
    )  # fmt: skip
    parser.add_argument("--rooms", type=int, default=0, help="room copies of each recording")
    parser.add_argument("--snr", type=float, nargs=2, default=(10.0, 30.0), metavar=("LO", "HI"))
    parser.add_argument("--drr", type=float, nargs=2, default=(3.0, 15.0), metavar=("LO", "HI"))
    parser.add_argument("--p-room", type=float, default=1.0, help="share of copies in a room")
    parser.add_argument("--subset", type=float, default=1.0, help="share of the recordings")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rank", type=int, default=None, help="PLDA dimensions kept")
    args = parser.parse_args(argv)
    if not 0.0 < args.subset <= 1.0:
        parser.error("--subset must be in (0, 1]")
    if not 0.0 <= args.p_room <= 1.0:
        parser.error("--p-room must be in [0, 1]")
    if args.rank is not None and args.rank < 1:
        parser.error("--rank must be >= 1")
    if args.rooms < 0:
        parser.error("--rooms must be >= 0")
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    config = CalibrationConfig()
    rank = config.plda_rank if args.rank is None else args.rank
    encoder = load_checkpoint(args.checkpoint)
    windows = EmbedConfig(window=config.window, step=config.step, min_window=config.window)
    paths = list_audio(args.data)
    if args.subset < 1.0:
        pick = np.random.default_rng(1000 + args.seed).choice(
            len(paths), int(args.subset * len(paths)), replace=False
        )
        paths = [paths[i] for i in np.sort(pick)]
    if not paths:
        parser.error("no audio files found in --data")
    rng = np.random.default_rng(args.seed)
    clean, copies = [], []
    for path in paths:
        x = audio_io.load(path, SAMPLE_RATE)
        regions = detect_speech(x, config.vad, SAMPLE_RATE)
        emb = extract(x, regions, encoder, windows, SAMPLE_RATE)[1]
        clean.append(emb)
        if len(emb) < config.min_windows:
            # pseudo_labels drops it: no copies, and no random draws spent on it
            copies.append([])
            continue
        copies.append(
            [
                extract(in_room(x, rng, args.snr, args.drr, args.p_room), regions, encoder, windows,
                        SAMPLE_RATE)[1]
                for _ in range(args.rooms)
            ]
        )  # fmt: skip
    labels = pseudo_labels(clean, config.pseudo_threshold, config.min_windows)
    x_all, y_all = [], []
    for emb, lab, rooms in zip(clean, labels, copies, strict=True):
        keep = lab >= 0
        for e in [emb, *rooms]:
            x_all.append(e[keep])
            y_all.append(lab[keep])
    y = np.concatenate(y_all)
    plda = fit_plda(np.concatenate(x_all), y, rank=rank)
    extra = dict(encoder.extra)
    record = {
        "recordings": len(paths),
        "pseudo_speakers": len(np.unique(y)),
        "windows": len(y),
        "rooms": args.rooms,
        "snr_db": list(args.snr),
        "drr_db": list(args.drr),
        "p_room": args.p_room,
        "subset": args.subset,
        "seed": args.seed,
        "rank": rank,
    }
    if "plda" in extra:
        extra["narrowband_plda"] = extra["plda"]
    extra["plda"] = {**plda.to_dict(), "record": record}
    meta = {k: v for k, v in encoder.meta.items() if k != "path"}  # load_checkpoint's own
    save_encoder(args.out, encoder.model, encoder.feature_config, meta, extra)
    print(json.dumps({"out": args.out, **record}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
