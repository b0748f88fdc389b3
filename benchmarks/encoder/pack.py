"""Pack the training and evaluation audio compactly for a machine without ../shared.

    python -m benchmarks.encoder.pack [--data ../shared/data] [--out .pack]
    python -m benchmarks.encoder.pack --opus [--so762-list runs/so762/train.lst] [--out .gpack]
    python -m benchmarks.encoder.pack --decode .gpack --out /tmp/pack

The first form writes OUT/ls-train, OUT/speech-commands, OUT/test-other (items named
<speaker>/<utterance>), OUT/noise and OUT/rir as packs (8-bit mu-law, lzma) that
``diarize train`` and ``diarize eval-embeddings`` read like a folder of audio.

``--opus`` writes all 7.5 h of training speech small enough to travel (about 18 kbit/s Ogg
Opus, the silence before the first and after the last loud frame of each recording cut to
0.3 s; a recording then under 3 s, too short for two disjoint 1.5 s windows, is left out):
OUT/ls-train, OUT/so762-train (the recordings of the list, i.e. without the held-out
speakers), OUT/picovoice and OUT/test-other as folders of ``.opus`` files, and OUT/noise and
OUT/rir as packs. ``--decode`` turns every folder of ``.opus`` files under SRC into an
uncompressed pack under OUT (in parallel; needs soundfile) and copies the packs, so that many
training processes read the audio without decoding it each.
"""

from __future__ import annotations

import argparse
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from diarize import audio as audio_io
from diarize.train.data import is_pack, write_pack

SR = 16000
HOP = 160
OPUS_LEVEL = 0.95  # soundfile's compression_level for Ogg Opus: about 18 kbit/s at 16 kHz
TRIM_MARGIN = 0.3  # seconds kept before the first and after the last loud frame
TRIM_FLOOR_DB = 30.0  # loud = within this of the recording's 95th-percentile frame energy
MIN_SECONDS = 3.0  # shorter after the trim: no two disjoint 1.5 s windows, so not written


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in audio_io.AUDIO_SUFFIXES)


def trim_edges(waveform: np.ndarray) -> np.ndarray:
    """The recording from TRIM_MARGIN before its first loud 10-ms frame to TRIM_MARGIN after
    its last one (the whole recording when it has no frame or no loud frame)."""
    n = len(waveform) // HOP
    if n == 0:
        return waveform
    frames = waveform[: n * HOP].reshape(n, HOP).astype(np.float64)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.flatnonzero(energy >= np.percentile(energy, 95) - TRIM_FLOOR_DB)
    if len(loud) == 0:
        return waveform
    margin = int(TRIM_MARGIN * SR)
    start = max(0, int(loud[0]) * HOP - margin)
    stop = min(len(waveform), (int(loud[-1]) + 1) * HOP + margin)
    return waveform[start:stop]


def _to_opus(job: tuple[Path, Path]) -> float:
    import soundfile as sf

    src, dst = job
    w = trim_edges(audio_io.load(src, SR))
    if len(w) < MIN_SECONDS * SR:
        return 0.0
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, w, SR, format="OGG", subtype="OPUS", compression_level=OPUS_LEVEL)
    return len(w) / SR


def _load(path: Path) -> np.ndarray:
    return audio_io.load(path, SR)


def _pack_folders(sets: dict[str, Path], out: Path, compress: bool = True) -> None:
    for name, folder in sets.items():
        files = _files(folder)
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            waves = list(pool.map(_load, files, chunksize=16))
        items = [
            (p.relative_to(folder).with_suffix("").as_posix(), w)
            for p, w in zip(files, waves, strict=True)
        ]
        target = write_pack(out / name, items, compress=compress)
        size = sum(f.stat().st_size for f in target.iterdir()) / 1e6
        minutes = sum(len(w) for w in waves) / SR / 60
        print(f"{target}: {len(items)} items, {minutes:.1f} min, {size:.1f} MB", flush=True)


def opus(data: Path, so762_list: Path, out: Path) -> None:
    lists = {
        "ls-train": _files(data / "train/librispeech/librispeech_train-clean-100"),
        "so762-train": [Path(ln) for ln in so762_list.read_text().split() if ln],
        "picovoice": _files(data / "train/picovoice-s2i"),
        "test-other": _files(data / "train/librispeech/librispeech_test-other"),
    }
    for name, files in lists.items():
        common = Path(os.path.commonpath([str(p.parent) for p in files]))
        jobs = [(p, out / name / p.relative_to(common).with_suffix(".opus")) for p in files]
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            seconds = sum(pool.map(_to_opus, jobs, chunksize=16))
        written = [dst for _, dst in jobs if dst.exists()]
        size = sum(dst.stat().st_size for dst in written) / 1e6
        print(
            f"{out / name}: {len(written)} of {len(jobs)} files, "
            f"{seconds / 60:.1f} min, {size:.1f} MB",
            flush=True,
        )
    _pack_folders({"noise": data / "noise", "rir": data / "rir"}, out)


def decode(src: Path, out: Path) -> None:
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        if is_pack(folder):
            shutil.copytree(folder, out / folder.name, dirs_exist_ok=True)
            print(f"{out / folder.name}: copied", flush=True)
        else:
            _pack_folders({folder.name: folder}, out, compress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--opus", action="store_true", help="all training speech as Ogg Opus")
    parser.add_argument("--so762-list", type=Path, default=Path("runs/so762/train.lst"))
    parser.add_argument("--decode", type=Path, default=None, help="opus folders -> raw packs")
    args = parser.parse_args()
    if args.decode is not None:
        decode(args.decode, args.out or Path("/tmp/pack"))
        return
    if args.opus:
        opus(args.data, args.so762_list, args.out or Path(".gpack"))
        return
    d = args.data
    _pack_folders(
        {
            "ls-train": d / "train/librispeech/librispeech_train-clean-100",
            "speech-commands": d / "train/speech-commands",
            "test-other": d / "train/librispeech/librispeech_test-other",
            "noise": d / "noise",
            "rir": d / "rir",
        },
        args.out or Path(".pack"),
    )


if __name__ == "__main__":
    main()
