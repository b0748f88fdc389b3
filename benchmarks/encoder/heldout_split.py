"""Split a folder of unlabeled training recordings into a training part and a held-out part.

    python -m benchmarks.encoder.heldout_split DATA OUT [--held 40] [--seed 2026]

Writes ``OUT/train/`` and ``OUT/held/`` (symbolic links to the recordings) and the same split
as ``OUT/train.lst`` and ``OUT/held.lst`` (absolute paths, one per line). The encoder trains
on ``OUT/train``; its back end can then be calibrated on recordings it never heard
(``models/fit_backend.sh RAW OUT/held CAL``) or on the ones it trained on
(``models/fit_backend.sh RAW OUT/train CAL``), which is what the held-out experiment of
``benchmarks/reports/encoder/RESULTS.md`` compares. The split depends only on the sorted file names,
``--held`` and ``--seed``.

``--by-speaker`` holds out whole speakers instead of files (the id before the first ``_`` of the
file name, as in speechocean762's ``SPEAKERxxxx_<utt>``): ``--held`` then counts speakers. The
ids choose only which files are *not* trained on; training never reads them.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from diarize.audio import AUDIO_SUFFIXES


def split(files: list[Path], held: int, seed: int) -> tuple[list[Path], list[Path]]:
    """(train, held) lists, each in sorted order; ``held`` files drawn with ``seed``."""
    files = sorted(files)
    if not 0 < held < len(files):
        raise ValueError(f"--held must be between 1 and {len(files) - 1}, got {held}")
    chosen = set(random.Random(seed).sample(range(len(files)), held))
    train = [p for i, p in enumerate(files) if i not in chosen]
    held_out = [p for i, p in enumerate(files) if i in chosen]
    return train, held_out


def speaker_of(path: Path) -> str:
    """The speaker id of a ``<speaker>_<utterance>`` file name (the stem if it has no ``_``)."""
    return path.stem.split("_", 1)[0]


def split_speakers(files: list[Path], held: int, seed: int) -> tuple[list[Path], list[Path]]:
    """(train, held) lists in sorted order; ``held`` whole speakers drawn with ``seed``."""
    speakers = sorted({speaker_of(p) for p in files})
    if not 0 < held < len(speakers):
        raise ValueError(f"--held must be between 1 and {len(speakers) - 1}, got {held}")
    chosen = {speakers[i] for i in random.Random(seed).sample(range(len(speakers)), held)}
    files = sorted(files)
    return (
        [p for p in files if speaker_of(p) not in chosen],
        [p for p in files if speaker_of(p) in chosen],
    )


def write(train: list[Path], held: list[Path], out: Path) -> None:
    parts = {"train": train, "held": held}
    for name in parts:  # refuse before writing anything, so no half-written split is left
        if (out / name).exists() and any((out / name).iterdir()):
            raise FileExistsError(f"{out / name} is not empty")
    for name, part in parts.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for path in part:
            (folder / path.name).symlink_to(path.resolve())
        (out / f"{name}.lst").write_text("".join(f"{p.resolve()}\n" for p in part))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="folder of training recordings")
    parser.add_argument("out", type=Path, help="folder for train/, held/ and the lists")
    parser.add_argument("--held", type=int, default=40, help="recordings held out (default 40)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--by-speaker", action="store_true", help="hold out whole speakers (<speaker>_... names)"
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} is not a folder")
    files = [p for p in args.data.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES]
    try:
        train, held = (split_speakers if args.by_speaker else split)(files, args.held, args.seed)
        write(train, held, args.out)
    except (ValueError, FileExistsError) as exc:
        parser.error(str(exc))
    what = "recordings"
    if args.by_speaker:
        what = f"recordings ({len({speaker_of(p) for p in held})} speakers held out)"
    print(f"{len(train)} training and {len(held)} held-out {what} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
