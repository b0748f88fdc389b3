"""Generate examples/meeting.wav and its reference examples/meeting.rttm.

A three-person conversation synthesised with Debian's text-to-speech voices (no recorded
data involved), so anyone can rebuild it:

    sudo apt-get install festival festvox-kallpc16k festvox-us-slt-hts espeak-ng
    python examples/make_example.py

Reference turns are measured from the synthesised samples themselves (first to last frame
within 40 dB of each utterance's peak), then shifted to where each utterance is placed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from diarize.audio import resample  # noqa: E402

SR = 16000
SEED = 20261126

# (speaker, text); speaker names are the reference labels.
SCRIPT = [
    ("alice", "Good morning everyone. Thanks for joining. Let's start with the release plan."),
    ("bob", "Sure. The build is green, and the installer works on all three platforms now."),
    ("alice", "Great. What about the documentation? Is the new tutorial finished?"),
    (
        "carol",
        "Almost. I still need screenshots for the last two sections. Tomorrow at the latest.",
    ),
    ("bob", "I can help with that after lunch."),
    ("carol", "That would be wonderful, thank you."),
    ("alice", "Then we ship on Thursday. Any objections?"),
    ("bob", "None from me."),
    ("carol", "Thursday works. I will send the announcement draft tonight."),
    ("alice", "Perfect. Let's meet again on Friday to look at the feedback."),
]


def synth(speaker: str, text: str, workdir: Path) -> np.ndarray:
    out = workdir / "utt.wav"
    if speaker == "alice":
        cmd = ["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", str(out)]
        subprocess.run(cmd, input=text.encode(), check=True, capture_output=True)
    elif speaker == "bob":
        cmd = ["text2wave", "-eval", "(voice_kal_diphone)", "-o", str(out)]
        subprocess.run(cmd, input=text.encode(), check=True, capture_output=True)
    else:
        cmd = ["espeak-ng", "-v", "en-gb+f4", "-s", "150", "-p", "60", "-w", str(out), text]
        subprocess.run(cmd, check=True, capture_output=True)
    x, rate = sf.read(out, dtype="float32", always_2d=True)
    x = resample(x.mean(axis=1), rate, SR)
    return x / (np.abs(x).max() + 1e-9)


def speech_extent(x: np.ndarray) -> tuple[int, int]:
    """First and last sample of the 10 ms frames within 40 dB of the loudest frame."""
    hop = SR // 100
    n = len(x) // hop
    energy = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    active = np.flatnonzero(energy > energy.max() - 40)
    return int(active[0] * hop), int((active[-1] + 1) * hop)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, n)
    return noise / noise.std()


def main() -> None:
    for tool in ("text2wave", "espeak-ng"):
        if shutil.which(tool) is None:
            sys.exit(
                f"{tool} not found: apt-get install festival festvox-kallpc16k "
                "festvox-us-slt-hts espeak-ng"
            )
    rng = np.random.default_rng(SEED)
    gains = {"alice": 0.5, "bob": 0.45, "carol": 0.4}
    pieces, turns = [], []
    cursor = int(0.5 * SR)
    with tempfile.TemporaryDirectory() as tmp:
        utterances = [(spk, synth(spk, text, Path(tmp))) for spk, text in SCRIPT]
    total = cursor + sum(len(u) + int(0.9 * SR) for _, u in utterances) + SR
    mix = np.zeros(total, dtype=np.float64)
    for spk, u in utterances:
        start, end = speech_extent(u)
        u = u[start:end] * gains[spk]
        mix[cursor : cursor + len(u)] += u
        turns.append((cursor / SR, (cursor + len(u)) / SR, spk))
        pieces.append(u)
        cursor += len(u) + int(rng.uniform(0.25, 0.8) * SR)
    mix = mix[: cursor + int(0.5 * SR)]
    # A little room: a short exponentially decaying reverberation tail and pink noise ~30 dB down.
    rir = rng.standard_normal(int(0.15 * SR)) * np.exp(-np.arange(int(0.15 * SR)) / (0.03 * SR))
    rir[0] = 1.0
    wet = np.convolve(mix, rir / np.abs(rir).sum() * 3)[: len(mix)]
    mix = 0.8 * mix + 0.2 * wet
    speech_rms = np.sqrt(np.mean(np.concatenate(pieces) ** 2))
    mix += pink_noise(len(mix), rng) * speech_rms * 10 ** (-30 / 20)
    mix = 0.9 * mix / np.abs(mix).max()
    sf.write(HERE / "meeting.wav", mix.astype(np.float32), SR, subtype="PCM_16")
    with open(HERE / "meeting.rttm", "w", encoding="utf-8") as fh:
        for start, end, spk in turns:
            fh.write(f"SPEAKER meeting 1 {start:.3f} {end - start:.3f} <NA> <NA> {spk} <NA> <NA>\n")
    print(f"wrote {HERE / 'meeting.wav'} ({len(mix) / SR:.1f} s) and meeting.rttm")


if __name__ == "__main__":
    main()
