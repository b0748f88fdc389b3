"""Validation (audio after each utterance's first 6 s) and test EER of checkpoints.

Extras: `train` for `.pt` checkpoints.

python -m benchmarks.encoder.valtest CKPT... [--eval-data DIR]
"""

from __future__ import annotations

import argparse

from diarize import eer
from diarize.encoder import load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument(
        "--eval-data", default="../shared/data/train/librispeech/librispeech_test-other"
    )
    args = parser.parse_args()
    utts = eer.load_utterances(args.eval_data)
    sets = {
        "val": eer.build_eval_set(utts, offset=6.0, num_nontarget=10000),
        "test": eer.build_eval_set(utts),
    }
    print("| checkpoint | val 1.5 s | val 3 s | test 1.5 s | test 3 s |\n|---|---|---|---|---|")
    for path in args.checkpoints:
        enc = load_encoder(path)
        cells = [f"{100 * v:.2f}" for s in sets.values() for v in eer.eval_model(enc, s)]
        print(f"| {path} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
