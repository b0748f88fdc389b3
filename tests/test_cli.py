import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from diarize.cli import main
from tests.conftest import SR, SYNTH_TOML, TINY_ONNX, TINY_PT, conversation


@pytest.fixture(scope="module")
def model_path():
    return TINY_ONNX


@pytest.fixture(scope="module")
def synth_toml(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "synth.toml"
    path.write_text(SYNTH_TOML)
    return path


_SYNTH = {}


@pytest.fixture(autouse=True)
def _synthetic_vad(synth_toml):
    _SYNTH["path"] = synth_toml


def _run(*args):
    """Invoke the CLI; runs with a test model use the detector suited to synthetic voices."""
    args = [str(a) for a in args]
    if "--model" in args and "--config" not in args:
        args += ["--config", str(_SYNTH["path"])]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _rttm_lines(text):
    return [line.split() for line in text.splitlines() if line.strip()]


def test_stdout_rttm(two_voice_wav, model_path):
    res = _run(two_voice_wav, "--model", model_path, "--num-speakers", "2", "-q")
    assert res.exit_code == 0, res.output
    lines = _rttm_lines(res.stdout)
    assert lines and all(len(f) == 10 and f[0] == "SPEAKER" and f[1] == "two" for f in lines)
    assert {f[7] for f in lines} == {"SPEAKER_00", "SPEAKER_01"}


def test_same_seed_same_bytes(two_voice_wav, model_path, tmp_path):
    a, b = tmp_path / "a.rttm", tmp_path / "b.rttm"
    for out in (a, b):
        res = _run("run", two_voice_wav, "--model", model_path, "--seed", 3, "-o", out)
        assert res.exit_code == 0
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size > 0


def test_output_folder_and_json(tmp_path, model_path):
    paths = []
    for i in range(2):
        p = tmp_path / f"in{i}.wav"
        sf.write(p, conversation(seed=i)[0], SR)
        paths.append(p)
    out = tmp_path / "out"
    res = _run(*paths, "--model", model_path, "-o", out, "--json")
    assert res.exit_code == 0, res.output
    for p in paths:
        data = json.loads((out / f"{p.stem}.json").read_text())
        assert data["uri"] == p.stem
        assert all({"start", "end", "speaker"} <= set(t) for t in data["turns"])


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d / "missing.wav", "no such file"),
        (lambda d: (d / "t.wav").write_text("not audio at all\n" * 20) and d / "t.wav", "t.wav"),
        (lambda d: (d / "z.wav").write_bytes(b"") or d / "z.wav", "empty"),
    ],
)
def test_bad_inputs_fail_cleanly(tmp_path, model_path, make, fragment):
    path = make(tmp_path)
    out = tmp_path / "o.rttm"
    res = _run(path, "--model", model_path, "-o", out)
    assert res.exit_code != 0
    assert fragment in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_too_short_audio(tmp_path, model_path):
    path = tmp_path / "short.wav"
    sf.write(path, np.zeros(int(0.2 * SR), dtype=np.float32), SR)
    res = _run(path, "--model", model_path, "-o", tmp_path / "o.rttm")
    assert res.exit_code == 1 and "shorter than the shortest window" in res.stderr
    assert not (tmp_path / "o.rttm").exists()


def test_silence_gives_valid_empty_rttm(tmp_path, model_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(3 * SR, dtype=np.float32), SR)
    out = tmp_path / "s.rttm"
    res = _run(path, "--model", model_path, "-o", out)
    assert res.exit_code == 0 and out.read_text() == ""
    assert "no speech detected" in res.stderr  # said, not only implied by an empty file
    res = _run(path, "--model", model_path, "-o", out, "-q")
    assert res.exit_code == 0 and "no speech" not in res.stderr


def test_8k_stereo_and_48k_mp3(tmp_path, model_path):
    x, _ = conversation()
    from diarize.audio import resample

    x8 = resample(x, SR, 8000)
    sf.write(tmp_path / "st.wav", np.stack([x8, x8], axis=1), 8000)
    sf.write(tmp_path / "hi.mp3", resample(x, SR, 48000), 48000, format="MP3")
    for name in ("st.wav", "hi.mp3"):
        res = _run(tmp_path / name, "--model", model_path, "-n", 2)
        assert res.exit_code == 0, res.output
        assert {f[7] for f in _rttm_lines(res.stdout)} == {"SPEAKER_00", "SPEAKER_01"}


def test_one_bad_file_does_not_stop_the_others(tmp_path, model_path, two_voice_wav):
    res = _run(tmp_path / "missing.wav", two_voice_wav, "--model", model_path, "-o", tmp_path / "o")
    assert res.exit_code == 1
    assert (tmp_path / "o" / "two.rttm").exists()
    assert "missing.wav" in res.stderr


def test_missing_model_and_bad_config(tmp_path, two_voice_wav):
    res = _run(two_voice_wav, "--model", tmp_path / "nope.pt")
    assert res.exit_code == 1 and "model checkpoint not found" in res.stderr
    cfg = tmp_path / "c.toml"
    cfg.write_text("[cluster]\nthreshhold = 1\n")
    res = _run(two_voice_wav, "--config", cfg)
    assert res.exit_code == 1 and "unknown option" in res.stderr


def test_min_above_max(two_voice_wav, model_path):
    res = _run(two_voice_wav, "--model", model_path, "--min-speakers", 3, "--max-speakers", 2)
    assert res.exit_code == 1 and "larger than" in res.stderr


def test_help_explains_every_option():
    res = _run("run", "--help")
    for option in (
        "--num-speakers",
        "--min-speakers",
        "--max-speakers",
        "--config",
        "--model",
        "--seed",
        "--json",
        "-q",
        "-v",
        "--output",
    ):
        assert option in res.output
    assert "Usage" in _run("--help").output


def test_config_command_prints_loadable_toml(tmp_path):
    res = _run("config")
    path = tmp_path / "c.toml"
    path.write_text(res.output)
    from diarize.config import PipelineConfig, load_config

    assert load_config(path) == PipelineConfig()


def test_ref_prints_der(two_voice_wav, model_path, tmp_path):
    pytest.importorskip("pyannote.metrics")  # the score extra
    ref = tmp_path / "two.rttm"
    ref.write_text(
        "".join(
            f"SPEAKER two 1 {s:.3f} {e - s:.3f} <NA> <NA> {w} <NA> <NA>\n"
            for s, e, w in conversation()[1]
        )
    )
    res = _run(two_voice_wav, "--model", model_path, "-n", 2, "--ref", ref)
    assert res.exit_code == 0 and "DER" in res.stderr


def test_output_folder_named_with_a_trailing_slash_is_created(two_voice_wav, model_path, tmp_path):
    res = _run(two_voice_wav, "--model", model_path, "-o", f"{tmp_path / 'new'}/", "-q")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "new").is_dir() and (tmp_path / "new" / "two.rttm").stat().st_size > 0


def test_output_dash_is_stdout(two_voice_wav, model_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _run(two_voice_wav, "--model", model_path, "-o", "-", "-q")
    assert res.exit_code == 0 and res.stdout.startswith("SPEAKER two ")
    assert not (tmp_path / "-").exists()


def test_output_never_overwrites_an_input(two_voice_wav, model_path):
    before = two_voice_wav.read_bytes()
    res = _run(two_voice_wav, "--model", model_path, "-o", two_voice_wav)
    assert res.exit_code == 1 and "would overwrite the input" in res.stderr
    assert two_voice_wav.read_bytes() == before


def test_inputs_that_would_write_the_same_file_are_refused_before_any_work(
    tmp_path, model_path, two_voices
):
    (tmp_path / "sub").mkdir()
    a, b = tmp_path / "call.wav", tmp_path / "sub" / "call.flac"
    sf.write(a, two_voices[0], SR)
    sf.write(b, two_voices[0], SR)
    res = _run(a, b, "--model", model_path, "-o", tmp_path / "out")
    assert res.exit_code == 1 and "would both be written to" in res.stderr
    assert not (tmp_path / "out").exists()


def test_json_for_several_inputs_on_stdout_is_one_object_per_line(tmp_path, model_path):
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"in{i}.wav")
        sf.write(paths[-1], conversation(seed=i)[0], SR)
    res = _run(*paths, "--model", model_path, "--json", "-q")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert [json.loads(line)["uri"] for line in lines] == ["in0", "in1"]


def test_unwritable_output_is_a_one_line_error(two_voice_wav, model_path, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = _run(two_voice_wav, "--model", model_path, "-o", blocker / "x.rttm")
    assert res.exit_code == 1 and "cannot write" in res.stderr
    assert "Not a directory" in res.stderr and "File exists" not in res.stderr
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize(
    "where", ["file/x.rttm", "file/sub/x.rttm", "folder/", "/proc/xx/x.rttm", "/sys/x.rttm"]
)
def test_an_unwritable_output_is_refused_before_any_work(
    where, two_voice_wav, model_path, tmp_path, monkeypatch
):
    if where.startswith("/") and not Path(where).parents[-2].is_dir():
        pytest.skip(f"no {Path(where).parents[-2]} here")
    from diarize.pipeline import Pipeline

    def diarize(*args, **kwargs):
        raise AssertionError("diarized before the output was checked")

    monkeypatch.setattr(Pipeline, "__call__", diarize)
    (tmp_path / "file").write_text("a file, not a folder")
    (tmp_path / "folder" / "two.rttm").mkdir(parents=True)  # a folder where the file goes
    out = where if where.startswith("/") else f"{tmp_path}/{where}"
    res = _run(two_voice_wav, "--model", model_path, "-o", out)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.count("\n") == 1 and "cannot write" in res.stderr
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_exact_count_outside_the_bounds_is_refused(two_voice_wav, model_path):
    res = _run(two_voice_wav, "--model", model_path, "--num-speakers", 2, "--min-speakers", 3)
    assert res.exit_code == 1 and "outside" in res.stderr


def test_vbx_count_with_a_model_without_plda_is_a_one_line_error(two_voice_wav, model_path):
    res = _run(two_voice_wav, "--model", model_path, "--count", "vbx")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.count("\n") == 1 and "no PLDA back end" in res.stderr


def test_a_config_value_of_the_wrong_type_is_a_one_line_error(two_voice_wav, model_path, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[cluster]\nthreshold = "high"\n')
    res = _run(two_voice_wav, "--model", model_path, "--config", bad)
    assert res.exit_code == 1 and "[cluster] threshold must be float" in res.stderr


def test_reference_of_a_file_with_spaces_in_its_name_is_found(tmp_path, model_path, two_voices):
    pytest.importorskip("pyannote.metrics")  # the score extra
    wav = tmp_path / "my call.wav"
    sf.write(wav, two_voices[0], SR)
    ref = tmp_path / "ref.rttm"
    ref.write_text(
        "".join(
            f"SPEAKER my_call 1 {s} {e - s} <NA> <NA> {w} <NA> <NA>\n" for s, e, w in two_voices[1]
        )
    )
    res = _run(wav, "--model", model_path, "--num-speakers", 2, "--ref", ref)
    assert res.exit_code == 0 and "my call: DER" in res.stderr


def test_reference_may_be_a_folder_of_rttm_files(two_voice_wav, model_path, tmp_path, two_voices):
    pytest.importorskip("pyannote.metrics")  # the score extra
    folder = tmp_path / "refs"
    folder.mkdir()
    line = "SPEAKER two 1 {} {} <NA> <NA> {} <NA> <NA>\n"
    (folder / "two.rttm").write_text("".join(line.format(s, e - s, w) for s, e, w in two_voices[1]))
    (folder / "other.rttm").write_text(line.format(0, 1, "X").replace("two", "other"))
    res = _run(two_voice_wav, "--model", model_path, "--num-speakers", 2, "--ref", folder)
    assert res.exit_code == 0 and "two: DER" in res.stderr


def test_without_the_score_extra_ref_and_score_say_which_extra(
    two_voice_wav, model_path, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "pyannote.metrics", None)  # as if not installed
    ref = tmp_path / "two.rttm"
    ref.write_text("SPEAKER two 1 0.000 1.000 <NA> <NA> A <NA> <NA>\n")
    res = _run(two_voice_wav, "--model", model_path, "--ref", ref, "-o", tmp_path / "out.rttm")
    assert res.exit_code == 1 and not (tmp_path / "out.rttm").exists()
    assert 'pip install -e ".[score]"' in res.stderr and len(res.stderr.splitlines()) == 1
    res = _run("score", ref, ref)
    assert res.exit_code == 1 and 'pip install -e ".[score]"' in res.stderr


def test_without_torch_the_torch_commands_say_which_extra(tmp_path, monkeypatch, two_voice_wav):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if not installed
    for name in ("diarize.nn", "diarize.adapt", "diarize.calibrate", "diarize.train.loop"):
        monkeypatch.delitem(sys.modules, name, raising=False)  # imported by earlier tests
    for args in (
        ["train", tmp_path, "-o", tmp_path / "m.pt"],
        ["fit-backend", tmp_path, "-o", tmp_path / "m.pt"],
        ["export", TINY_PT],
        ["eval-embeddings", tmp_path, "--model", f"tiny={TINY_PT}"],
        [two_voice_wav, "--model", TINY_PT],
        [two_voice_wav, "--model", TINY_ONNX, "--adapt"],
    ):
        res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code == 1, (args, res.output)
        assert 'pip install -e ".[train]"' in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.output


def test_a_checkpoint_and_its_onnx_export_give_the_same_rttm(two_voice_wav):
    pytest.importorskip("torch")
    a = _run(two_voice_wav, "--model", TINY_PT, "-n", 2)
    b = _run(two_voice_wav, "--model", TINY_ONNX, "-n", 2)
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout and a.stdout


def test_eval_embeddings_scores_the_shipped_back_end_with_plda(tmp_path):
    from tests.conftest import VOICE_A, VOICE_B, synth_voice

    for who, (f0, formants) in (("a", VOICE_A), ("b", VOICE_B)):
        for u in range(2):
            (tmp_path / who).mkdir(exist_ok=True)
            sf.write(tmp_path / who / f"u{u}.wav", synth_voice(f0, formants, 3.2, seed=u), SR)
    args = ["eval-embeddings", str(tmp_path), "--no-baselines", "--lengths", "1.5"]
    plain = CliRunner().invoke(main, args, catch_exceptions=False)
    both = CliRunner().invoke(main, [*args, "--plda"], catch_exceptions=False)
    assert plain.exit_code == both.exit_code == 0, both.output
    rows = [line.split("|")[1].strip() for line in both.stdout.splitlines() if line[:2] == "| "]
    assert rows == ["model", "shipped", "shipped, PLDA"]  # the shipped model carries one
    assert "PLDA" not in plain.stdout
    # the cosine row is the same with and without --plda: the same trials, the same embeddings
    assert plain.stdout.splitlines()[-1] in both.stdout.splitlines()
    # --bootstrap puts an interval in brackets beside each EER, around it
    boot = CliRunner().invoke(main, [*args, "--bootstrap", "50"], catch_exceptions=False)
    assert boot.exit_code == 0, boot.output
    cell = boot.stdout.splitlines()[-1].split("|")[2].strip()  # "E % (L-H)"
    eer, low, high = (
        float(x) for x in re.match(r"([\d.]+) % \(([\d.]+)-([\d.]+)\)", cell).groups()
    )
    assert low <= eer <= high
    assert plain.stdout.splitlines()[-1].split("|")[2].strip() == f"{eer:.1f} %"
