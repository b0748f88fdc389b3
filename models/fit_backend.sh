#!/usr/bin/env bash
# Rebuild the label-free back end stored in models/encoder-v1.pt (PLDA + stopping thresholds).
#   models/fit_backend.sh RAW_CHECKPOINT [DATA_DIR [OUT]]
# DATA_DIR: the unlabeled training recordings (default ../shared/data/train/librispeech/
# librispeech_train-clean-100); OUT: where the calibrated checkpoint goes (default
# models/encoder-v1.pt). Each recording is taken as its own pseudo-speaker; simulated
# conversations of them (meeting-like SNR 15-30 dB, 2-4 talkers) choose the thresholds.
set -euo pipefail
raw=${1:?usage: models/fit_backend.sh RAW_CHECKPOINT [DATA_DIR [OUT]]}
data=${2:-../shared/data/train/librispeech/librispeech_train-clean-100}
out=${3:-models/encoder-v1.pt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$data"/*.flac "$data"/*.wav; do
  [ -e "$f" ] || continue
  name=$(basename "${f%.*}")
  mkdir -p "$work/src/$name"
  ln -s "$(realpath "$f")" "$work/src/$name/"
done
diarize simulate "$work/conv" --source "$work/src" --num-files 24 --minutes 0.75 --seed 8 \
  --snr-db 15 30 --max-speakers 4 -q
diarize fit-backend "$data" --model "$raw" --conversations "$work/conv" -o "$out"
