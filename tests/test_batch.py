"""diarize batch: discovery, failure isolation, resume, interruption, and the Dask back end."""

import csv
import json
import multiprocessing
import os
import signal
import sys
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner

from benchmarks import faults
from diarize.batch import LOCK_FILE, BatchOptions, find_audio, output_path, run_batch
from diarize.cli import main
from diarize.config import load_config
from diarize.errors import ConfigError
from diarize.pipeline import RunOptions
from tests.conftest import SR, SYNTH_TOML, TINY_ONNX, conversation

GOOD = ("call_a.wav", "call_b.wav")


@pytest.fixture(scope="module")
def model_path():
    return TINY_ONNX


@pytest.fixture(scope="module")
def synth_config(tmp_path_factory):
    """The speech detector suited to synthetic voices (see tests/conftest.py)."""
    path = tmp_path_factory.mktemp("cfg") / "synth.toml"
    path.write_text(SYNTH_TOML)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two synthetic two-voice calls and one file that is not audio."""
    folder = tmp_path_factory.mktemp("calls")
    for seed, name in enumerate(GOOD):
        sf.write(folder / name, conversation(seed=seed, turn=2.0)[0], SR)
    (folder / "call_broken.wav").write_text("this is not audio\n" * 50)
    return folder


@pytest.fixture(scope="module")
def pool_run(corpus, model_path, synth_config, tmp_path_factory):
    """One run with two worker processes, shared by the tests that inspect its outputs."""
    out = tmp_path_factory.mktemp("pool") / "out"
    args = [corpus, "-o", out, "--model", model_path, "-n", 2, "--jobs", 2, "-q"]
    args += ["--config", synth_config]
    res = CliRunner().invoke(main, ["batch", *map(str, args)], catch_exceptions=False)
    return res, out


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "report.csv", newline="", encoding="utf-8") as fh:
        return {row["file"]: row for row in csv.DictReader(fh)}


def test_one_corrupt_file_does_not_stop_the_others(pool_run):
    res, out = pool_run
    assert res.exit_code == 1
    assert "call_broken.wav" in res.stderr and "1 file(s) failed" in res.stderr
    assert "Traceback" not in res.output
    rows = _rows(out)
    assert list(rows) == ["call_a.wav", "call_b.wav", "call_broken.wav"]  # sorted
    assert rows["call_broken.wav"]["status"] == "failed"
    assert "not a readable audio file" in rows["call_broken.wav"]["error"]
    for name in GOOD:
        assert rows[name]["status"] == "ok" and rows[name]["speakers"] == "2"
        assert float(rows[name]["duration"]) == pytest.approx(10.0)  # 4 x (2 s + 0.5 s)
        text = (out / name.replace(".wav", ".rttm")).read_text()
        assert text and all(line.split()[1] == Path(name).stem for line in text.splitlines())
    assert not (out / "call_broken.rttm").exists()
    combined = (out / "all.rttm").read_text()
    assert combined == "".join((out / n.replace(".wav", ".rttm")).read_text() for n in GOOD)
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["failed"] == 1 and report["summary"]["backend"] == "process-pool"
    assert report["summary"]["jobs"] == 2
    # The resolved configuration is written next to the outputs, in --config form.
    assert load_config(out / "config.toml").cluster.num_speakers == 2
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def _good_only(corpus: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in GOOD:
        (folder / name).write_bytes((corpus / name).read_bytes())
    return folder


def test_resume_skips_done_files_and_overwrite_redoes_them(
    corpus, model_path, synth_config, tmp_path
):
    folder, out = _good_only(corpus, tmp_path), tmp_path / "out"
    run = RunOptions(config_path=synth_config, model=model_path, num_speakers=2)
    first = run_batch(folder, out, BatchOptions(jobs=1, threads=1, progress=False), run)
    assert [r.status for r in first.files] == ["ok", "ok"]
    assert first.summary["backend"] == "in-process" and first.summary["threads_per_job"] == 1
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("call_*.rttm")}

    processed = []
    again = run_batch(folder, out, BatchOptions(jobs=1, progress=False), run, processed.append)
    assert processed == [] and [r.status for r in again.files] == ["skipped", "skipped"]
    assert [r.speakers for r in again.files] == [2, 2]
    assert [r.duration for r in again.files] == [r.duration for r in first.files]
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("call_*.rttm")}
    assert (out / "all.rttm").read_text().count("SPEAKER") > 0

    # Audio newer than its RTTM is redone; the other file is kept.
    audio = folder / GOOD[1]
    newer = (out / "call_b.rttm").stat().st_mtime_ns + 10**9
    os.utime(audio, ns=(newer, newer))
    partly = run_batch(folder, out, BatchOptions(jobs=1, progress=False), run)
    assert [r.status for r in partly.files] == ["skipped", "ok"]

    every = run_batch(folder, out, BatchOptions(jobs=1, overwrite=True, progress=False), run)
    assert [r.status for r in every.files] == ["ok", "ok"]

    # A file that no longer diarizes loses its old RTTM: it is not its result any more.
    audio.write_text("no longer audio\n" * 50)
    broken = run_batch(folder, out, BatchOptions(jobs=1, progress=False), run)
    assert [r.status for r in broken.files] == ["skipped", "failed"]
    assert not (out / "call_b.rttm").exists() and (out / "call_a.rttm").exists()
    assert "call_b" not in (out / "all.rttm").read_text()

    # Results of another configuration are not silently mixed with new ones.
    other = RunOptions(config_path=synth_config, model=model_path, num_speakers=3)
    with pytest.raises(ConfigError, match="another configuration"):
        run_batch(folder, out, BatchOptions(jobs=1, progress=False), other)


def test_dask_cluster_gives_the_same_bytes_as_worker_processes(
    pool_run, corpus, model_path, synth_config
):
    distributed = pytest.importorskip("distributed")
    from diarize.encoder import get_num_threads, set_num_threads

    _, pool_out = pool_run
    out = pool_out.parent / "dask"
    threads = get_num_threads()  # in-process workers set this process's encoder threads
    try:
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster:
            options = BatchOptions(scheduler=cluster.scheduler_address, progress=False)
            report = run_batch(
                corpus,
                out,
                options,
                RunOptions(config_path=synth_config, model=model_path, num_speakers=2),
            )
    finally:
        set_num_threads(threads)
    assert [r.status for r in report.files] == ["ok", "ok", "failed"]
    assert report.summary["backend"].startswith("dask ")
    for name in ("call_a.rttm", "call_b.rttm", "all.rttm", "config.toml"):
        assert (out / name).read_bytes() == (pool_out / name).read_bytes(), name


def test_missing_dask_is_a_clear_error(corpus, model_path, synth_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    options = BatchOptions(scheduler="local", progress=False)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[cluster\]"'):
        run_batch(
            corpus,
            tmp_path / "out",
            options,
            RunOptions(config_path=synth_config, model=model_path),
        )


def test_interrupt_stops_workers_and_leaves_no_partial_rttm(
    corpus, model_path, synth_config, tmp_path
):
    folder, out = _good_only(corpus, tmp_path), tmp_path / "out"

    def interrupt(result):
        raise KeyboardInterrupt

    options = BatchOptions(jobs=2, progress=False)
    # Only the processes this batch starts count (an earlier test's Dask cluster may still
    # be reaping its own).
    before = set(multiprocessing.active_children())
    with pytest.raises(KeyboardInterrupt):
        run_batch(
            folder,
            out,
            options,
            RunOptions(config_path=synth_config, model=model_path, num_speakers=2),
            interrupt,
        )
    assert [p for p in multiprocessing.active_children() if p not in before] == []
    written = sorted(p.name for p in out.iterdir())
    # The first result was written whole before the interruption; nothing else is there.
    assert not [n for n in written if n.endswith(".tmp")]
    for name in written:
        if name.endswith(".rttm"):
            assert (out / name).read_text().startswith("SPEAKER ")
    assert "report.json" not in written and "all.rttm" not in written
    # Running again finishes the job.
    report = run_batch(
        folder,
        out,
        BatchOptions(jobs=1, progress=False),
        RunOptions(config_path=synth_config, model=model_path, num_speakers=2),
    )
    assert {r.status for r in report.files} <= {"ok", "skipped"} and len(report.files) == 2


def test_two_files_with_one_output_name_are_refused_before_any_work(tmp_path, model_path):
    folder = tmp_path / "in"
    folder.mkdir()
    x = conversation(turn=2.0)[0]
    sf.write(folder / "a.wav", x, SR)
    sf.write(folder / "a.flac", x, SR)
    processed = []
    with pytest.raises(ConfigError, match="would both be written to"):
        run_batch(
            folder,
            tmp_path / "out",
            BatchOptions(jobs=1, progress=False),
            RunOptions(model=model_path),
            processed.append,
        )
    assert processed == [] and not (tmp_path / "out" / "a.rttm").exists()


def test_discovery(tmp_path):
    (tmp_path / "b.WAV").write_bytes(b"x")
    (tmp_path / "a.flac").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.wav").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.mp3").write_bytes(b"x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d.wav").write_bytes(b"x")

    def names(**kw):
        return [p.relative_to(tmp_path).as_posix() for p in find_audio(tmp_path, **kw)]

    assert names() == ["a.flac", "b.WAV"]
    assert names(recursive=True, exclude=tmp_path / "out") == ["a.flac", "b.WAV", "sub/c.mp3"]
    assert names(pattern="*.txt") == ["notes.txt"]
    target = output_path(tmp_path / "sub" / "c.mp3", tmp_path, tmp_path / "o")
    assert target == tmp_path / "o" / "sub" / "c.rttm"


def test_cli_errors(tmp_path, model_path):
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    res = runner.invoke(main, ["batch", str(tmp_path / "empty"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "no audio files found" in res.stderr
    res = runner.invoke(main, ["batch", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "not a folder" in res.stderr
    args = ["batch", str(tmp_path), "-o", str(tmp_path / "o"), "--dask", "local"]
    res = runner.invoke(main, [*args, "--scheduler", "tcp://localhost:1"])
    assert res.exit_code == 2 and "not both" in res.stderr
    help_text = runner.invoke(main, ["batch", "--help"]).output
    for option in ("--pattern", "--jobs", "--recursive", "--overwrite", "--scheduler", "--dask"):
        assert option in help_text
    for option in ("--model", "--config", "--num-speakers", "--seed"):
        assert option in help_text


@pytest.mark.parametrize("where", ["file/x", "file/x/y", "/proc/xx", "/sys/xx"])
def test_an_output_folder_that_cannot_be_made_is_a_one_line_error_before_any_work(
    where, corpus, model_path, tmp_path, monkeypatch
):
    if where.startswith("/") and not Path(where).parent.is_dir():
        pytest.skip(f"no {Path(where).parent} here")
    from diarize.pipeline import Pipeline

    def diarize(*args, **kwargs):
        raise AssertionError("diarized before the output folder was checked")

    monkeypatch.setattr(Pipeline, "__call__", diarize)
    (tmp_path / "file").write_text("a file, not a folder")
    out = where if where.startswith("/") else str(tmp_path / where)
    args = ["batch", str(corpus), "-o", out, "--model", str(model_path), "--jobs", "1", "-q"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.count("\n") == 1 and "cannot create the folder" in res.stderr
    assert (tmp_path / "file").read_text() == "a file, not a folder"


def test_a_second_batch_on_the_same_folder_is_refused(corpus, model_path, synth_config, tmp_path):
    folder, out = _good_only(corpus, tmp_path), tmp_path / "out"
    run = RunOptions(config_path=synth_config, model=model_path, num_speakers=2)
    options = BatchOptions(jobs=1, progress=False)
    refused = []

    def second_batch(result):  # runs while the first one holds the folder
        with pytest.raises(ConfigError, match="in use by another diarize batch") as info:
            run_batch(folder, out, options, run)
        refused.append(str(info.value))

    first = run_batch(folder, out, options, run, second_batch)
    assert [r.status for r in first.files] == ["ok", "ok"]
    assert len(refused) == 2 and f"(pid {os.getpid()})" in refused[0]
    assert not (out / LOCK_FILE).exists()
    # The lock file of a batch that was killed holds no lock: the next batch runs.
    (out / LOCK_FILE).write_text("12345\n")
    again = run_batch(folder, out, BatchOptions(jobs=1, overwrite=True, progress=False), run)
    assert [r.status for r in again.files] == ["ok", "ok"] and not (out / LOCK_FILE).exists()
    # The CLI says it in one line.

    def cli_batch(result):
        args = ["batch", str(folder), "-o", str(out), "--model", str(model_path), "-q"]
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 1 and res.stderr.count("\n") == 1
        assert "in use by another diarize batch" in res.stderr
        refused.append(res.stderr)

    run_batch(folder, out, BatchOptions(jobs=1, overwrite=True, progress=False), run, cli_batch)
    assert len(refused) == 4


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_sigkill_and_sigterm_leave_no_worker_or_resource_tracker_behind(tmp_path):
    """A batch killed (SIGKILL) or terminated (SIGTERM) midway leaves none of its processes
    running; SIGTERM exits 143 with a message and keeps the finished files (the checks of
    ``python -m benchmarks.faults``, on fewer files). Enough files that neither run can
    finish them all before it is interrupted, however fast the machine."""
    num_files = 24
    in_dir, options = faults.make_corpus(tmp_path, num_files, seconds=54.0)
    out = tmp_path / "out"
    killed = faults.start(in_dir, out, options, 2, tmp_path / "kill.log")
    checks = faults.interrupt(killed, out, signal.SIGKILL, 0, num_files, timeout=300)
    done = len(faults.rttms(out))
    terminated = faults.start(in_dir, out, options, 2, tmp_path / "term.log")
    checks += faults.interrupt(terminated, out, signal.SIGTERM, done, num_files, timeout=300)
    assert [f"{c.name}: {c.detail}" for c in checks if not c.ok] == []
    assert not (out / LOCK_FILE).exists()


def test_a_new_batch_removes_the_temporary_files_of_a_killed_writer(tmp_path):
    import subprocess
    import sys

    from diarize.batch import remove_stale_temporaries

    # A writer that has exited (its pid is free) and one that is running (this process).
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(done.stdout)
    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / f".call.rttm.{dead}.tmp"
    live = tmp_path / f".other.rttm.{os.getpid()}.tmp"
    kept = tmp_path / "notes.tmp"  # not a temporary file of ours
    for path in (stale, live, kept):
        path.write_text("SPEAKER x 1 0.000 1.000 <NA> <NA> A <NA> <NA>\n")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and kept.exists()
