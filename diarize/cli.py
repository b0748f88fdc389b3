"""Command line interface. Each command parses its options, builds a config, calls one library
function and turns library errors into a one-line message and a non-zero exit code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from diarize import __version__
from diarize.errors import DiarizeError

logger = logging.getLogger("diarize")


class _DefaultGroup(click.Group):
    """A group whose first argument may be an audio file (``diarize a.wav`` runs ``run``)."""

    default_command = "run"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    elif verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


verbose_option = click.option(
    "-v", "--verbose", count=True, help="More log messages (-v info, -vv debug)."
)
quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="Only errors; no progress bars or summaries."
)


@click.group(
    cls=_DefaultGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Run 'diarize COMMAND --help' for the options of each command. "
    "'diarize AUDIO...' is short for 'diarize run AUDIO...'.",
)
@click.version_option(__version__, prog_name="diarize")
def main() -> None:
    """Speaker diarization: who spoke when, as RTTM.

    \b
    Examples:
      diarize meeting.wav                 # RTTM on stdout
      diarize meeting.wav -o meeting.rttm
      diarize *.wav -o out/ --num-speakers 2
      diarize batch calls/ -o rttm/ --jobs 2
      diarize score ref/ rttm/ --collar 0.5
    """


# --- run -----------------------------------------------------------------------------------


@main.command("run")
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (one input) or folder (ends with '/' or exists as a folder; one "
    "<stem>.rttm per input). Default: print to stdout.",
)
@click.option(
    "--num-speakers",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help="Exact number of speakers, when known.",
)
@click.option(
    "--min-speakers",
    type=click.IntRange(min=1),
    default=None,
    help="Lower bound on the number of speakers.",
)
@click.option(
    "--max-speakers",
    type=click.IntRange(min=1),
    default=None,
    help="Upper bound on the number of speakers.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML file of hyper-parameters (see 'diarize config' for every option and default).",
)
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    default=None,
    help="Encoder checkpoint (default: the shipped models/encoder-v1.pt).",
)
@click.option(
    "--scoring",
    type=click.Choice(["cosine", "plda"]),
    default=None,
    help="Similarity used by clustering (default from config: cosine).",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Clustering stopping threshold (default: the value estimated for the model).",
)
@click.option(
    "--no-resegment",
    is_flag=True,
    default=False,
    help="Skip frame-level resegmentation (turns then follow the sliding windows).",
)
@click.option(
    "--adapt",
    is_flag=True,
    default=False,
    help="Fine-tune a copy of the encoder on the recording itself (self-supervised) first.",
)
@click.option("--seed", type=int, default=None, help="Random seed (default 0).")
@click.option("--json", "as_json", is_flag=True, help="Write turns as JSON instead of RTTM.")
@click.option(
    "--ref",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference RTTM: print the DER (collar 0, overlap scored) after diarizing.",
)
@verbose_option
@quiet_option
def run_command(
    audio,
    output,
    num_speakers,
    min_speakers,
    max_speakers,
    config_path,
    model,
    scoring,
    threshold,
    no_resegment,
    adapt,
    seed,
    as_json,
    ref,
    verbose,
    quiet,
) -> None:
    """Diarize AUDIO file(s): wav, flac, ogg, mp3, m4a, mp4, webm, ... any rate or channels.

    Prints RTTM (uri = file stem, speakers SPEAKER_00, SPEAKER_01, ...) to stdout unless
    -o is given. Outputs are written atomically: an error never leaves a partial file.
    """
    _setup_logging(verbose, quiet)
    from diarize.pipeline import RunOptions, run_files

    options = RunOptions(
        output=output,
        num_speakers=num_speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        config_path=config_path,
        model=model,
        scoring=scoring,
        threshold=threshold,
        resegment=False if no_resegment else None,
        adapt=adapt,
        seed=seed,
        as_json=as_json,
        reference=ref,
        progress=not quiet,
    )
    try:
        failures = run_files(list(audio), options, echo=click.echo)
    except DiarizeError as exc:
        _fail(str(exc))
    if failures:
        sys.exit(1)


@main.command("config")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Show this TOML file merged over the defaults.",
)
def config_command(config_path) -> None:
    """Print every hyper-parameter with its default, as TOML (a starting --config file)."""
    from diarize.config import load_config

    try:
        click.echo(load_config(config_path).to_toml(), nl=False)
    except DiarizeError as exc:
        _fail(str(exc))


@main.command("fit-backend")
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    default=None,
    help="Encoder checkpoint to calibrate (default: the shipped model).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the encoder checkpoint with its back end (PLDA + thresholds).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--num-mixtures",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="Synthetic mixtures of pseudo-speakers used to choose the stopping thresholds.",
)
@verbose_option
@quiet_option
def fit_backend_command(data, model, out, seed, num_mixtures, verbose, quiet) -> None:
    """Fit the label-free back end of an encoder on unlabeled DATA (folders, files, lists).

    Clusters each recording on its own, keeps large clusters as pseudo-speakers, fits PLDA
    on them and picks the AHC stopping thresholds (cosine and PLDA) that best recover
    synthetic mixtures of pseudo-speakers. No speaker label is used.
    """
    _setup_logging(verbose, quiet)
    from diarize.calibrate import CalibrationConfig, fit_backend

    config = CalibrationConfig(seed=seed, num_mixtures=num_mixtures)
    try:
        summary = fit_backend(model, list(data), out, config, progress=not quiet)
    except DiarizeError as exc:
        _fail(str(exc))
    if not quiet:
        click.echo(
            f"wrote {out}: {summary['pseudo_speakers']} pseudo-speakers from "
            f"{summary['recordings']} recordings; cosine threshold "
            f"{summary['cosine_threshold']:.3f} (error {100 * summary['cosine_error']:.1f}%), "
            f"PLDA threshold {summary['plda_threshold']:.3f} "
            f"(error {100 * summary['plda_error']:.1f}%)",
            err=True,
        )


# --- batch (batch.py) ----------------------------------------------------------------------

# --- score / plot (scoring.py, plot.py) ----------------------------------------------------

# --- train / eval-embeddings (train/) ------------------------------------------------------

# --- simulate / benchmark ------------------------------------------------------------------


def _range(text: str) -> tuple[float, float]:
    """'0.05-0.2' -> (0.05, 0.2); a single number x means (0, x)."""
    lo, sep, hi = text.partition("-")
    try:
        return (float(lo), float(hi)) if sep else (0.0, float(lo))
    except ValueError:
        raise click.BadParameter(f"expected LOW-HIGH such as 0.0-0.2, got {text!r}") from None


def _optional_folder(value: Path | None, default: Path) -> Path | None:
    """None -> ``default`` when it exists; 'none' -> None (synthetic only)."""
    if value is None:
        return default if default.is_dir() else None
    return None if str(value).lower() == "none" else value


@main.command("simulate")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--source",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of clean single-speaker recordings, <speaker>/<file>.flac "
    "(default: ../shared/data/train/librispeech/librispeech_test-other).",
)
@click.option("--num-files", type=click.IntRange(min=1), default=15, show_default=True)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0.1),
    default=2.5,
    show_default=True,
    help="Length of each file (each is drawn within +-20 %).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--min-speakers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--max-speakers", type=click.IntRange(min=1), default=6, show_default=True)
@click.option(
    "--overlap",
    default="0.0-0.2",
    show_default=True,
    help="Range of the overlap fraction of each file (time with 2+ talkers / speech time).",
)
@click.option(
    "--snr-db",
    type=float,
    nargs=2,
    default=(5.0, 20.0),
    show_default=True,
    help="Range of the signal-to-noise ratio of each file, dB.",
)
@click.option(
    "--noise",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of real noise recordings mixed with synthetic noise "
    "(default: ../shared/data/noise when present; 'none': synthetic only).",
)
@click.option(
    "--rir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of real room impulse responses used for half of the files "
    "(default: ../shared/data/rir when present; 'none': simulated rooms only).",
)
@verbose_option
@quiet_option
def simulate_command(
    out_dir,
    source,
    num_files,
    minutes,
    seed,
    min_speakers,
    max_speakers,
    overlap,
    snr_db,
    noise,
    rir,
    verbose,
    quiet,
) -> None:
    """Write simulated conversations with exact reference RTTM to OUT_DIR.

    OUT_DIR gets wav/ (16 kHz), rttm/, uem/, all.lst and simulation.json. The reference is
    the exact sample positions of the speech of the clean sources. The same seed gives the
    same bytes.
    """
    _setup_logging(verbose, quiet)
    from diarize.simulate import DEFAULT_NOISE, DEFAULT_RIR, SimulationConfig, simulate

    config = SimulationConfig(
        num_files=num_files,
        minutes=minutes,
        seed=seed,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        overlap=_range(overlap),
        snr_db=tuple(snr_db),
    )
    try:
        summary = simulate(
            out_dir,
            config,
            source=source,
            noise_dir=_optional_folder(noise, DEFAULT_NOISE),
            rir_dir=_optional_folder(rir, DEFAULT_RIR),
            progress=None if quiet else lambda line: click.echo(line, err=True),
        )
    except DiarizeError as exc:
        _fail(str(exc))
    if not quiet:
        click.echo(
            f"wrote {len(summary['files'])} files, {summary['total_minutes']:.1f} min, "
            f"to {out_dir}",
            err=True,
        )


if __name__ == "__main__":
    main()
