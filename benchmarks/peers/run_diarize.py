"""diarize's own CLI on one file: ``PYTHON run_diarize.py WAV RTTM META [-- CLI options]``.

Runs ``diarize run WAV -o RTTM -q [CLI options]`` through ``diarize.cli.main`` in this process
(what the ``diarize`` console script does), so the defaults are the CLI's: the shipped encoder,
its learned threshold, resegmentation. ``load_s`` covers the imports (the CLI's own are lazy:
``diarize.pipeline``, and with it torch, is imported first so that they fall here, as the
peers' imports do); ``process_s`` is the CLI call, which loads the encoder (5 MB) and the
speech detector itself before diarizing. Needs this repository on ``PYTHONPATH`` (the benchmark
sets it). Protocol: ``peer_io``.
"""

from __future__ import annotations

import sys
import time

from peer_io import check_args, finish, parser, probe


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("cli", nargs="*", help="extra 'diarize run' options, after '--'")
    args = p.parse_args()
    if args.probe:
        return probe(["torch", "numpy"], "the project's own environment: pip install -e .")
    check_args(p, args)
    import diarize.pipeline  # noqa: F401  (torch and the rest the CLI imports when it runs)
    from diarize.cli import main as cli
    from diarize.rttm import read_rttm

    loaded = time.perf_counter()
    cli(["run", str(args.wav), "-o", str(args.rttm), "-q", *args.cli], standalone_mode=False)
    done = time.perf_counter()
    turns = [t for d in read_rttm(args.rttm).values() for t in d.turns]
    segments = [(t.start, t.end, t.speaker) for t in turns]
    return finish(args, segments, loaded, done, cli=["diarize", "run", "-q", *args.cli])


if __name__ == "__main__":
    sys.exit(main())
