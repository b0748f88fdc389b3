"""Resemblyzer in diarize's pipeline on one file:
``PYTHON run_resemblyzer.py WAV RTTM META [--threshold T]``.

The supervised d-vector of Resemblyzer (``benchmarks.encoders.ResemblyzerEncoder``, its
weights in the ``resemblyzer`` wheel: the project's ``bench`` extra) in place of the shipped
encoder; everything else is diarize's default pipeline (same speech detector, windows,
clustering and resegmentation), with the clustering threshold ``T`` (default 0.5947: the value
``benchmarks.der`` tuned for this encoder on its simulated tuning set, never on dev/ami; see
benchmarks/reports/RESULTS.md). Needs this repository on ``PYTHONPATH``. Protocol: ``peer_io``.
"""

from __future__ import annotations

import sys
import time

from peer_io import check_args, finish, parser, probe

TUNED_THRESHOLD = 0.5947


def shim_pkg_resources() -> bool:
    """Resemblyzer imports ``webrtcvad``, whose release 2.0.10 calls
    ``pkg_resources.get_distribution("webrtcvad").version`` at import; setuptools dropped
    ``pkg_resources`` (81+). Where it is missing, a stand-in answering that one call from
    ``importlib.metadata`` is put in its place. True when the stand-in was needed."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        import types
        from importlib.metadata import version

        shim = types.ModuleType("pkg_resources")
        shim.get_distribution = lambda name: types.SimpleNamespace(version=version(name))
        sys.modules["pkg_resources"] = shim
        return True
    return False


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--threshold", type=float, default=TUNED_THRESHOLD)
    args = p.parse_args()
    if args.probe:
        return probe(["resemblyzer", "torch"], "pip install -e '.[bench]'")
    check_args(p, args)
    shimmed = shim_pkg_resources()
    from benchmarks.encoders import ResemblyzerEncoder
    from diarize.config import PipelineConfig, update_config
    from diarize.pipeline import Pipeline

    config = update_config(PipelineConfig(), {"cluster": {"threshold": args.threshold}})
    pipeline = Pipeline(config, encoder=ResemblyzerEncoder())
    loaded = time.perf_counter()
    hyp = pipeline(args.wav, uri=args.wav.stem)
    done = time.perf_counter()
    segments = [(t.start, t.end, t.speaker) for t in hyp.turns]
    return finish(
        args, segments, loaded, done, threshold=args.threshold, pkg_resources_shim=shimmed
    )


if __name__ == "__main__":
    sys.exit(main())
