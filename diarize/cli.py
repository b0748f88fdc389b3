"""Command line interface. Each command parses its options, builds a config, calls one library
function and turns library errors into a one-line message and a non-zero exit code."""

from __future__ import annotations

import dataclasses
import logging
import os
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


# --- options shared by run, batch and plot --------------------------------------------------


def pipeline_options(command):
    """The model, configuration, speaker-count and seed options of run, batch and plot."""
    options = [
        click.option(
            "--num-speakers",
            "-n",
            type=click.IntRange(min=1),
            default=None,
            help="Exact number of speakers, when known and each of them talks at length (in a "
            "meeting where some say only a few words, --max-speakers does better).",
        ),
        click.option(
            "--min-speakers",
            type=click.IntRange(min=1),
            default=None,
            help="Lower bound on the number of speakers.",
        ),
        click.option(
            "--max-speakers",
            type=click.IntRange(min=1),
            default=None,
            help="Upper bound on the number of speakers (the safe way to pass a head count).",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            default=None,
            help="TOML file of hyper-parameters (see 'diarize config').",
        ),
        click.option(
            "--model",
            type=click.Path(path_type=Path),
            default=None,
            help="Encoder: an ONNX export (NAME.onnx with NAME.npz) or a .pt checkpoint "
            "(needs the train extra) (default: $DIARIZE_MODEL if set, else the shipped "
            "models/encoder-v5.onnx; models/encoder-v1.onnx is the previous one).",
        ),
        click.option(
            "--scoring",
            type=click.Choice(["auto", "cosine", "plda"]),
            default=None,
            help="Similarity used by clustering. 'auto' (default): PLDA scores when "
            "--num-speakers is given and the model has a PLDA back end, else cosine.",
        ),
        click.option(
            "--threshold",
            type=float,
            default=None,
            help="Clustering stopping threshold; given alone, it selects --count threshold "
            "(that rule's default: the value estimated for the model, or its narrowband value "
            "when the audio is telephone-band).",
        ),
        click.option(
            "--count",
            type=click.Choice(["auto", "vbx", "threshold", "scaled", "nme-sc", "eigengap"]),
            default=None,
            help="How the speaker count is estimated when not given. 'auto' (default): 'vbx' "
            "when the model has a PLDA back end (the shipped one has), else 'threshold'. "
            "'vbx': Bayesian HMM clustering with the model's PLDA, started from the 'scaled' "
            "rule's clusters, the count read off its posterior (telephone-band input too). "
            "'threshold': clustering stops at the threshold learned for the model (its "
            "narrowband value for telephone-band input; reached through 'auto', telephone-"
            "band input is counted by 'scaled' instead). 'scaled': a threshold each recording "
            "sets itself from how alike its windows are to their nearest neighbours. 'nme-sc': "
            "auto-tuned spectral clustering. 'eigengap': the count of nme-sc, clustered by "
            "AHC (benchmarks/reports/CROSSDOMAIN.md and VBX.md compare them).",
        ),
        click.option(
            "--no-resegment",
            is_flag=True,
            default=False,
            help="Skip frame-level resegmentation, both passes (turns then follow the sliding "
            "windows).",
        ),
        click.option(
            "--overlap/--no-overlap",
            default=None,
            help="Give overlapped speech a second speaker: where the overlap detector "
            "(models/overlap-v2.onnx) hears two talkers within [overlap] turn_window "
            "(0.4 s) of a change of speaker, the speaker on the other side of the change "
            "is added. --no-overlap: one speaker per frame. Default: the config's "
            "[overlap] enabled (on).",
        ),
        click.option(
            "--adapt",
            is_flag=True,
            default=False,
            help="Fine-tune a copy of the encoder on each recording first (needs the "
            "train extra). Measured: it raises DER on three of four benchmark domains, "
            "dev/ami most (benchmarks/reports/DRAWS-ADAPT.md), so it is off.",
        ),
        click.option("--seed", type=int, default=None, help="Random seed (default 0)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_options(params: dict, quiet: bool):
    from diarize.pipeline import RunOptions

    return RunOptions(
        num_speakers=params["num_speakers"],
        min_speakers=params["min_speakers"],
        max_speakers=params["max_speakers"],
        config_path=params["config_path"],
        model=params["model"],
        scoring=params["scoring"],
        threshold=params["threshold"],
        count=params["count"],
        resegment=False if params["no_resegment"] else None,
        overlap=params["overlap"],
        adapt=params["adapt"],
        seed=params["seed"],
        progress=not quiet,
    )


# --- run -----------------------------------------------------------------------------------


@main.command("run")
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default=None,
    help="Output file (one input) or folder (ends with '/' or exists as a folder; one "
    "<stem>.rttm per input). Default or '-': print to stdout.",
)
@pipeline_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write turns as JSON instead of RTTM (several inputs on stdout: one JSON object "
    "per line).",
)
@click.option(
    "--ref",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference RTTM (a file, or a folder of them): print the DER (collar 0, overlap "
    "scored) after diarizing.",
)
@verbose_option
@quiet_option
def run_command(audio, output, as_json, ref, verbose, quiet, **params) -> None:
    """Diarize AUDIO file(s): wav, flac, ogg, mp3, m4a, mp4, webm, ... any rate or channels.

    Prints RTTM (uri = file stem, speakers SPEAKER_00, SPEAKER_01, ...) to stdout unless
    -o is given. Outputs are written atomically: an error never leaves a partial file.
    """
    _setup_logging(verbose, quiet)
    from diarize.pipeline import run_files

    to_stdout = output is None or output == "-"
    options = dataclasses.replace(
        _run_options(params, quiet),
        output=None if to_stdout else Path(output),
        output_is_dir=not to_stdout and output.endswith(("/", os.sep)),
        as_json=as_json,
        reference=ref,
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
    help="Encoder checkpoint to calibrate (default: the shipped model's .pt).",
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
@click.option(
    "--conversations",
    type=click.Path(path_type=Path),
    default=None,
    help="Simulated conversations of pseudo-speakers ('diarize simulate' output built from "
    "the training recordings, one pseudo-speaker per recording): choose the thresholds by "
    "the pipeline's DER on them instead of by embedding mixtures.",
)
@verbose_option
@quiet_option
def fit_backend_command(data, model, out, seed, num_mixtures, conversations, verbose, quiet):
    """Fit the label-free back end of an encoder on unlabeled DATA (folders, files, lists).

    Clusters each recording on its own, keeps large clusters as pseudo-speakers, fits PLDA
    on them and picks the AHC stopping thresholds (cosine and PLDA) that best recover
    synthetic mixtures of pseudo-speakers, or, with --conversations, that give the lowest
    diarization error on those conversations (then also a threshold for telephone-band
    audio). No speaker label is used.
    """
    _setup_logging(verbose, quiet)
    try:
        from diarize.calibrate import CalibrationConfig, fit_backend
    except DiarizeError as exc:  # no torch: the train extra
        _fail(str(exc))

    config = CalibrationConfig(seed=seed, num_mixtures=num_mixtures)
    try:
        summary = fit_backend(
            model, list(data), out, config, progress=not quiet, conversations=conversations
        )
    except DiarizeError as exc:
        _fail(str(exc))
    if not quiet:
        click.echo(
            f"wrote {out}: {summary['pseudo_speakers']} pseudo-speakers from "
            f"{summary['recordings']} recordings; cosine threshold "
            f"{summary['cosine_threshold']:.3f} (error {100 * summary['cosine_error']:.1f}%), "
            f"PLDA threshold {summary['plda_threshold']:.3f} "
            f"(error {100 * summary['plda_error']:.1f}%)"
            + (
                f"; narrowband cosine threshold {summary['cosine_threshold_narrowband']:.3f}"
                if "cosine_threshold_narrowband" in summary
                else ""
            )
            + (
                f"; scale of the scaled count {summary['count_scale']:.1f}"
                if "count_scale" in summary
                else ""
            ),
            err=True,
        )


# --- batch (batch.py) ----------------------------------------------------------------------


@main.command("batch")
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder: <stem>.rttm per file, all.rttm, report.json, report.csv, config.toml.",
)
@click.option(
    "--pattern",
    default=None,
    help="Glob on file names, e.g. '*.wav' (default: every known audio extension).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: the number of cores); each gets cores/jobs threads.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Encoder threads per job (default: cores / jobs, so the cores are used once).",
)
@click.option("--recursive", "-r", is_flag=True, help="Also search sub-folders (mirrored in -o).")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Redo every file (default: skip files whose RTTM is newer than the audio).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run on this Dask scheduler (pip install -e '.[cluster]' in the diarize folder). "
    "Workers must see IN_DIR at the same path; results come back here.",
)
@click.option(
    "--dask",
    "dask_mode",
    type=click.Choice(["local"]),
    default=None,
    help="'local': run on a Dask LocalCluster of --jobs worker processes on this machine.",
)
@pipeline_options
@verbose_option
@quiet_option
def batch_command(
    in_dir,
    out_dir,
    pattern,
    jobs,
    threads,
    recursive,
    overwrite,
    scheduler,
    dask_mode,
    verbose,
    quiet,
    **params,
) -> None:
    """Diarize every audio file in IN_DIR, in parallel, into the folder -o.

    Files are processed in sorted order by worker processes that load the model once. A file
    that fails is reported (report.csv, and here) without stopping the others; the exit
    code is 1 if any failed. Running again skips files already done, so an interrupted
    batch resumes where it stopped; every output is written atomically. SIGTERM stops it
    as Ctrl-C does (exit 143; 130 for Ctrl-C), and workers never outlive it. A second
    batch on the same -o folder is refused while one runs.
    """
    _setup_logging(verbose, quiet)
    from diarize.batch import BatchOptions, Terminated, run_batch, sigterm_interrupts

    if scheduler is not None and dask_mode is not None:
        _fail("give --scheduler or --dask local, not both", 2)
    options = BatchOptions(
        pattern=pattern,
        recursive=recursive,
        jobs=jobs,
        overwrite=overwrite,
        scheduler=scheduler if scheduler is not None else dask_mode,
        progress=not quiet,
        threads=threads,
    )
    try:
        with sigterm_interrupts():
            report = run_batch(in_dir, out_dir, options, _run_options(params, quiet))
    except DiarizeError as exc:
        _fail(str(exc))
    except Terminated:
        _fail("terminated; finished files are kept, run again to resume", 143)
    except KeyboardInterrupt:
        _fail("interrupted; finished files are kept, run again to resume", 130)
    s = report.summary
    if not quiet:
        rtf = f", RTF {s['rtf']:.3f}" if s["rtf"] is not None else ""
        click.echo(
            f"{s['num_files']} files: {s['ok']} diarized, {s['skipped']} already done, "
            f"{s['failed']} failed; {s['audio_seconds'] / 60:.1f} min of audio in "
            f"{s['wall_seconds']:.1f} s{rtf}; results in {out_dir}",
            err=True,
        )
    if report.failed:
        lines = [
            f"  {r.error}" if Path(r.file).name in r.error else f"  {r.file}: {r.error}"
            for r in report.failed
        ]
        _fail(f"{len(report.failed)} file(s) failed:\n" + "\n".join(lines))


# --- score / plot (scoring.py, plot.py) ----------------------------------------------------


@main.command("score")
@click.argument("ref", type=click.Path(path_type=Path))
@click.argument("hyp", type=click.Path(path_type=Path))
@click.option(
    "--uem",
    type=click.Path(path_type=Path),
    default=None,
    help="UEM file or folder of .uem: the regions to score (default: the union of the "
    "reference and hypothesis extents of each file).",
)
@click.option(
    "--collar",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds not scored around each reference boundary, TOTAL width as in "
    "pyannote.metrics (--collar 0.5 = 0.25 s on each side = md-eval -c 0.25). Default 0.",
)
@click.option(
    "--collar-md-eval",
    type=click.FloatRange(min=0),
    default=None,
    help="The collar as NIST md-eval's -c: HALF-width, on each side of a boundary "
    "(--collar-md-eval 0.25 = --collar 0.5).",
)
@click.option("--skip-overlap", is_flag=True, help="Do not score overlapped reference speech.")
@click.option("--json", "as_json", is_flag=True, help="JSON: seconds, and rates as fractions.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV: seconds, and rates as fractions.")
@verbose_option
@quiet_option
def score_command(
    ref, hyp, uem, collar, collar_md_eval, skip_overlap, as_json, as_csv, verbose, quiet
) -> None:
    """Score hypothesis RTTM against reference RTTM: DER and its parts, JER, purity, coverage.

    REF and HYP are RTTM files or folders of them (one recording per file; a folder's
    all.rttm from 'diarize batch' is ignored). Files are matched by file id; none matching
    at all is an error (exit 1), not a DER of 100 %. The TOTAL row adds up error seconds
    over all files and divides by all reference speech: it is not a mean of per-file rates.

    \b
    Files on one side only (warned):
      reference only   scored against an empty hypothesis (all missed), marked *
      hypothesis only  not scored, listed below the table (unless --uem lists them:
                       then they are recordings without speech and their false alarms count)
    """
    _setup_logging(verbose, quiet)
    from diarize.scoring import score_paths

    if collar is not None and collar_md_eval is not None:
        _fail("give --collar (total width) or --collar-md-eval (half width), not both", 2)
    if as_json and as_csv:
        _fail("give --json or --csv, not both", 2)
    total_collar = 2 * collar_md_eval if collar_md_eval is not None else collar or 0.0
    try:
        result = score_paths(ref, hyp, uem, total_collar, skip_overlap)
    except DiarizeError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(result.to_json(), nl=False)
    elif as_csv:
        click.echo(result.to_csv(), nl=False)
    else:
        click.echo(result.format_table(), nl=False)


@main.command("plot")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--ref",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference RTTM (file or folder): drawn above, with missed speech, false alarm "
    "and confusion shaded (collar 0, overlap scored).",
)
@click.option("--uri", default=None, help="File id to draw when an RTTM holds several.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Image to write: .png, .svg or .pdf.",
)
@pipeline_options
@verbose_option
@quiet_option
def plot_command(source, ref, uri, output, verbose, quiet, **params) -> None:
    """Draw a speaker timeline of SOURCE: an RTTM file, or audio (diarized first).

    One row per speaker; with --ref the reference rows come first and each hypothesis
    speaker is drawn in the colour of the reference speaker it is mapped to (the DER
    mapping). Needs matplotlib (pip install -e ".[plot]" in the diarize folder).
    """
    _setup_logging(verbose, quiet)
    from diarize.plot import plot_source

    try:
        plot_source(source, output, ref, uri, _run_options(params, quiet))
    except DiarizeError as exc:
        _fail(str(exc))
    if not quiet:
        click.echo(f"wrote {output}", err=True)


# --- train / export / eval-embeddings (train/, export.py) ----------------------------------


@main.command("train")
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Encoder checkpoint to write (e.g. models/NAME.pt).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML file with a [train] table (and [train.augment]).",
)
@click.option("--resume", is_flag=True, help="Continue the run saved in NAME.state.pt.")
@click.option(
    "--state",
    type=click.Path(path_type=Path),
    default=None,
    help="Training-state file (default: NAME.state.pt next to --out).",
)
@click.option(
    "--loss",
    type=click.Choice(["ntxent", "barlow"]),
    default=None,
    help="Objective (default ntxent).",
)
@click.option(
    "--steps",
    "num_steps",
    type=click.IntRange(min=1),
    default=None,
    help="Optimisation steps (the learning-rate schedule's length).",
)
@click.option(
    "--minutes",
    "max_minutes",
    type=float,
    default=None,
    help="Stop after this many minutes of training (0 = no limit).",
)
@click.option("--batch-size", type=click.IntRange(min=2), default=None)
@click.option(
    "--queue-size",
    type=click.IntRange(min=0),
    default=None,
    help="Recent embeddings kept as extra negatives.",
)
@click.option(
    "--window", "window_seconds", type=float, default=None, help="Window length in seconds."
)
@click.option(
    "--max-gap",
    "max_gap_seconds",
    type=float,
    default=None,
    help="Longest gap in seconds between the two windows of a pair (default 0.5).",
)
@click.option("--temperature", type=float, default=None)
@click.option("--lr", "learning_rate", type=float, default=None)
@click.option(
    "--pseudo-rounds",
    type=click.IntRange(min=0),
    default=None,
    help="Pseudo-label rounds (clusters of the encoder's own embeddings).",
)
@click.option(
    "--noise",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Folder of real noise recordings (repeatable).",
)
@click.option(
    "--rir",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Folder of real room impulse responses (repeatable).",
)
@click.option(
    "--eval-data",
    type=click.Path(path_type=Path),
    default=None,
    help="Held-apart <speaker>/<utterance> audio for the periodic validation EER.",
)
@click.option(
    "--supervised",
    is_flag=True,
    default=None,
    help="Reference only: train with speaker ids from file names (never ship).",
)
@click.option("--device", type=str, default=None, help="torch device (default cpu).")
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=None)
@verbose_option
@quiet_option
def train_command(
    data, out, config_path, resume, state, noise, rir, eval_data, verbose, quiet, **options
) -> None:
    """Train the segment encoder on unlabeled DATA (folders, files, lists or packs).

    Positive pairs are two disjoint windows of one file less than --max-gap apart; negatives
    are windows of other files. The checkpoint and a resumable state are saved every few
    minutes.
    """
    _setup_logging(max(verbose, 0 if quiet else 1), quiet)
    from diarize.errors import require

    try:
        require("torch", "diarize train")
    except DiarizeError as exc:
        _fail(str(exc))
    from diarize.train.loop import load_train_config, train

    overrides = {
        **options,
        "data": tuple(str(d) for d in data),
        "out": str(out),
        "state": str(state) if state else None,
        "noise": tuple(str(n) for n in noise) or None,
        "rir": tuple(str(r) for r in rir) or None,
        "eval_data": str(eval_data) if eval_data else None,
    }
    try:
        config = load_train_config(config_path, overrides)
        path = train(config, resume=resume, progress=not quiet)
    except DiarizeError as exc:
        _fail(str(exc))
    if not quiet:
        click.echo(f"wrote {path}", err=True)


@main.command("export")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The ONNX file to write, NAME.onnx; its sidecar NAME.npz goes beside it "
    "(default: the checkpoint's name with .onnx).",
)
@click.option(
    "--no-check",
    is_flag=True,
    help="Skip comparing the export's embeddings with the checkpoint's.",
)
@verbose_option
@quiet_option
def export_command(checkpoint, out, no_check, verbose, quiet) -> None:
    """Export a .pt CHECKPOINT to ONNX, for diarizing without torch (needs the train extra).

    Writes NAME.onnx (the network) and NAME.npz (front-end and encoder configuration, back
    end, calibration record, and the checkpoint's sha256), then checks that both give the
    same embeddings (cosine >= 0.9999 per window). Use the result with --model NAME.onnx.
    """
    _setup_logging(verbose, quiet)
    from diarize.export import export

    try:
        summary = export(checkpoint, out, check=not no_check)
    except DiarizeError as exc:
        _fail(str(exc))
    if not quiet:
        lines = [f"wrote {summary['onnx']} and {summary['sidecar']}"]
        lines += [f"  sha256 {digest}  {name}" for name, digest in summary["sha256"].items()]
        for key, label in (("cosine", ""), ("cosine_narrowband", " (narrowband statistics)")):
            if key in summary:
                c = summary[key]
                lines.append(
                    f"  lowest cosine against the checkpoint{label}: {c['embed']:.6f} (batch), "
                    f"{c['embed_windows']:.6f} (shared trunk)"
                )
        click.echo("\n".join(lines), err=True)


@main.command("eval-embeddings")
@click.argument("eval_data", type=click.Path(path_type=Path))
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME=PATH",
    help="Encoder checkpoint to score (repeatable); default: the shipped model.",
)
@click.option(
    "--lengths",
    default="1.5,3",
    show_default=True,
    help="Segment lengths in seconds, comma-separated.",
)
@click.option("--no-baselines", is_flag=True, help="Leave out MFCC statistics and random weights.")
@click.option(
    "--plda",
    is_flag=True,
    help="Also score each model that carries a PLDA back end (fit-backend) by its "
    "log-likelihood ratios, as the pipeline clusters: one more row per such model.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="DRAWS",
    help="Also give each EER a 95 % interval from this many bootstrap draws of the speakers "
    "(the trials of one voice are not independent); 0 = none, 1000 is usual.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the non-target trial sample and of the bootstrap.",
)
@verbose_option
@quiet_option
def eval_embeddings_command(
    eval_data, models, lengths, no_baselines, plda, bootstrap, seed, verbose, quiet
):
    """Equal error rate of encoders on held-apart speakers (EVAL_DATA/<speaker>/<utterance>).

    All same-speaker pairs of segments from different utterances against a seeded sample of
    different-speaker pairs, cosine scores (and PLDA ones with --plda); all models in one run
    on the same trials.
    """
    _setup_logging(verbose, quiet)
    from diarize.eer import evaluate_checkpoints

    checkpoints: dict[str, Path | None] = {}
    for item in models or ("shipped",):
        name, sep, path = item.partition("=")
        checkpoints[name if sep else Path(item).stem] = (
            Path(path if sep else item) if (sep or item != "shipped") else None
        )
    try:
        lens = tuple(float(x) for x in lengths.split(","))
    except ValueError:
        _fail(f"--lengths: expected numbers separated by commas, got {lengths!r}")
    try:
        result = evaluate_checkpoints(
            checkpoints,
            eval_data,
            lens,
            not no_baselines,
            seed=seed,
            plda=plda,
            bootstrap=bootstrap,
        )
    except DiarizeError as exc:
        _fail(str(exc))
    click.echo(f"trials: {result.description}\n")
    click.echo(result.table())


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
