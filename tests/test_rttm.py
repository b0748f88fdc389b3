import pytest

from diarize.errors import RTTMError
from diarize.rttm import (
    check_writable,
    format_rttm,
    parse_rttm,
    parse_uem,
    read_rttm,
    read_uem,
    write_atomic,
)
from diarize.types import Diarization, Turn


def test_round_trip_preserves_turns_and_utf8(tmp_path):
    d = Diarization("meet", (Turn(0.0, 1.5, "MÉO069"), Turn(1.5, 2.25, "SPEAKER_01")))
    path = write_atomic(tmp_path / "x.rttm", format_rttm(d))
    back = read_rttm(path)["meet"]
    assert back.turns == d.turns
    assert back.speakers == ["MÉO069", "SPEAKER_01"]


def test_format_is_ten_fields():
    text = format_rttm(Diarization("a", (Turn(1.0, 2.5, "S0"),)))
    assert text == "SPEAKER a 1 1.000 1.500 <NA> <NA> S0 <NA> <NA>\n"


def test_several_files_and_comments():
    text = (
        "# comment\n\n"
        "SPEAKER f1 1 0 1 <NA> <NA> a <NA> <NA>\n"
        "SPKR-INFO f1 1 <NA> <NA> <NA> unknown a <NA>\n"
        "SPEAKER f2 1 3 1 <NA> <NA> b <NA> <NA>\n"
    )
    out = parse_rttm(text)
    assert sorted(out) == ["f1", "f2"]
    assert out["f2"].turns == (Turn(3.0, 4.0, "b"),)


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("SPEAKER f 1 zero 1 <NA> <NA> a <NA> <NA>", "must be numbers"),
        ("SPEAKER f 1 0 1", "expected 10 fields"),
        ("SPEAKER f 1 -1 1 <NA> <NA> a <NA> <NA>", "finite and >= 0"),
        ("SPEAKER f 1 0 inf <NA> <NA> a <NA> <NA>", "finite and >= 0"),
        ("SPEAKER f 1 nan 1 <NA> <NA> a <NA> <NA>", "finite and >= 0"),
        ("HELLO f 1 0 1 <NA> <NA> a <NA> <NA>", "unknown record"),
    ],
)
def test_malformed_lines_name_their_line_number(line, fragment):
    text = "SPEAKER f 1 0 1 <NA> <NA> a <NA> <NA>\n" + line + "\n"
    with pytest.raises(RTTMError, match=f"x.rttm:2: .*{fragment}"):
        parse_rttm(text, source="x.rttm")


def test_nist_comments_and_a_byte_order_mark_are_accepted(tmp_path):
    path = tmp_path / "ref.rttm"
    text = ";; a NIST comment\nSPEAKER f 1 0 1 <NA> <NA> a <NA> <NA>\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read_rttm(path)["f"].turns == (Turn(0.0, 1.0, "a"),)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d, "is a folder"),
        (lambda d: d / "missing.rttm", "no such file"),
        (
            lambda d: _write(d / "utf16.rttm", "SPEAKER f 1 0 1 <NA> <NA> a <NA> <NA>\n", "utf-16"),
            "not UTF-8",
        ),
    ],
)
def test_unreadable_files_give_one_line_errors(tmp_path, make, fragment):
    path = make(tmp_path)
    for reader in (read_rttm, read_uem):
        with pytest.raises(RTTMError, match=fragment):
            reader(path)


def _write(path, text, encoding):
    path.write_text(text, encoding=encoding)
    return path


def test_uem():
    assert parse_uem("f 1 0.0 30.0\n") == {"f": [(0.0, 30.0)]}
    with pytest.raises(RTTMError, match="finite"):
        parse_uem("f 1 nan 30.0\n")
    with pytest.raises(RTTMError, match=":1:"):
        parse_uem("f 1 5 2\n")


def test_write_atomic_leaves_no_temp_on_error(tmp_path):
    target = tmp_path / "out.rttm"
    with pytest.raises(TypeError):
        write_atomic(target, 123)  # not text
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_writes_into_a_pipe_instead_of_replacing_it(tmp_path):
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "SPEAKER f 1 0 1 <NA> <NA> a <NA> <NA>\n")
    reader.join(timeout=10)
    assert received == ["SPEAKER f 1 0 1 <NA> <NA> a <NA> <NA>\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a pipe, not a regular file


def test_write_atomic_writes_through_a_symbolic_link(tmp_path):
    target = tmp_path / "real.rttm"
    target.write_text("old\n")
    link = tmp_path / "link.rttm"
    link.symlink_to(target)
    write_atomic(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"


def test_a_file_where_the_folder_should_be_is_not_a_directory(tmp_path):
    blocker = tmp_path / "audio.wav"
    blocker.write_text("not a folder")
    for check in (check_writable, lambda path: write_atomic(path, "")):
        with pytest.raises(NotADirectoryError):  # not FileExistsError ("File exists")
            check(blocker / "x.rttm")
        with pytest.raises(NotADirectoryError):
            check(blocker / "sub" / "x.rttm")
    with pytest.raises(IsADirectoryError):
        check_writable(tmp_path)
    check_writable(tmp_path / "new" / "sub" / "x.rttm")  # write_atomic would make them
    assert [p.name for p in tmp_path.iterdir()] == ["audio.wav"]  # the probe is gone
