"""Pack the training and evaluation audio into compact folders (8-bit mu-law, lzma) for a
machine without audio decoders or ../shared.

    python -m benchmarks.encoder.pack [--data ../shared/data] [--out .pack]

Writes OUT/ls-train, OUT/speech-commands, OUT/test-other (items named <speaker>/<utterance>),
OUT/noise and OUT/rir; each is a pack that ``diarize train`` and ``diarize eval-embeddings``
read like a folder of audio.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from diarize import audio as audio_io
from diarize.train.data import write_pack


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in audio_io.AUDIO_SUFFIXES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(".pack"))
    args = parser.parse_args()
    d = args.data
    sets = {
        "ls-train": d / "train/librispeech/librispeech_train-clean-100",
        "speech-commands": d / "train/speech-commands",
        "test-other": d / "train/librispeech/librispeech_test-other",
        "noise": d / "noise",
        "rir": d / "rir",
    }
    for name, folder in sets.items():
        items = []
        for path in _files(folder):
            rel = path.relative_to(folder).with_suffix("")
            items.append((rel.as_posix(), audio_io.load(path, 16000)))
        out = write_pack(args.out / name, items)
        size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
        print(f"{out}: {len(items)} items, {size:.1f} MB")


if __name__ == "__main__":
    main()
