#!/usr/bin/env bash
# Rebuild the label-free back end stored in models/encoder-v5.pt (PLDA + stopping thresholds),
# then export the calibrated checkpoint to ONNX (OUT's name with .onnx and .npz), which is what
# diarizing runs. Needs the train extra.
#   models/fit_backend.sh RAW_CHECKPOINT [DATA_DIR [OUT]]
# DATA_DIR: the unlabeled recordings to calibrate on (default ../shared/data/train/librispeech/
# librispeech_train-clean-100); OUT: where the calibrated checkpoint goes (default
# models/encoder-v5.pt). Each recording is taken as its own pseudo-speaker; simulated
# conversations of them (meeting-like SNR 15-30 dB, 2-4 talkers) choose the thresholds.
# Environment: SEED (default 8) and CONVERSATIONS (default 24) set the draw of conversations;
# the shipped model used the defaults.
set -euo pipefail
raw=${1:?usage: models/fit_backend.sh RAW_CHECKPOINT [DATA_DIR [OUT]]}
data=${2:-../shared/data/train/librispeech/librispeech_train-clean-100}
out=${3:-models/encoder-v5.pt}
seed=${SEED:-8}
conversations=${CONVERSATIONS:-24}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$data"/*.flac "$data"/*.wav "$data"/*.ogg "$data"/*.mp3; do
  [ -e "$f" ] || continue
  name=$(basename "${f%.*}")
  mkdir -p "$work/src/$name"
  ln -s "$(realpath "$f")" "$work/src/$name/"
done
diarize simulate "$work/conv" --source "$work/src" --num-files "$conversations" --minutes 0.75 \
  --seed "$seed" --snr-db 15 30 --max-speakers 4 -q
diarize fit-backend "$data" --model "$raw" --conversations "$work/conv" -o "$out"
diarize export "$out"
