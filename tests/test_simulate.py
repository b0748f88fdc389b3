"""Simulated conversations: exact reference, overlap and SNR in range, same seed same bytes.

The sources are tone 'speakers' written here, whose speech (tone on) and silence (exact
zeros) are known to the sample, so the expected reference can be worked out by hand.
"""

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from diarize.cli import main
from diarize.errors import ConfigError
from diarize.rttm import read_rttm, read_uem
from diarize.simulate import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    SimulationConfig,
    load_folder,
    load_sources,
    overlap_fraction,
    simulate,
    simulate_conversation,
    speech_segments,
)

F = FRAME_SAMPLES  # 10 ms


def tone(num_samples, freq, amplitude=0.3, phase=0.3):
    t = np.arange(num_samples) / SAMPLE_RATE
    return (amplitude * np.cos(2 * np.pi * freq * t + phase)).astype(np.float32)


def recording(pattern, freq, amplitude=0.3):
    """pattern: [(num_frames, is_tone), ...] -> (waveform, tone intervals in samples)."""
    pieces, on, pos = [], [], 0
    for frames, is_tone in pattern:
        n = frames * F
        pieces.append(tone(n, freq, amplitude) if is_tone else np.zeros(n, dtype=np.float32))
        if is_tone:
            on.append((pos, pos + n))
        pos += n
    return np.concatenate(pieces), on


def merged(intervals, min_pause_samples):
    out = []
    for a, b in intervals:
        if out and a - out[-1][1] < min_pause_samples:
            out[-1][1] = b
        else:
            out.append([a, b])
    return [tuple(x) for x in out]


#: per recording: frames of silence / tone; the 10-frame pause is bridged, the others split
PATTERNS = [
    [(30, 0), (120, 1), (10, 0), (80, 1), (60, 0), (150, 1), (40, 0)],
    [(12, 0), (200, 1), (45, 0), (90, 1), (25, 0)],
    [(50, 0), (70, 1), (35, 0), (60, 1), (5, 0), (100, 1), (20, 0)],
]


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory):
    """4 tone speakers x 3 recordings; returns (folder, {recording name: tone intervals})."""
    root = tmp_path_factory.mktemp("sources")
    known = {}
    for s in range(4):
        folder = root / f"spk{s}"
        folder.mkdir()
        for r, pattern in enumerate(PATTERNS):
            x, on = recording(pattern, 180.0 * (s + 1) + 20 * r, 0.1 + 0.1 * r)
            name = f"spk{s}-{r}"
            sf.write(folder / f"{name}.flac", x, SAMPLE_RATE, subtype="PCM_24")
            known[name] = on
    return root, known


def test_speech_segments_are_the_known_sample_positions():
    pattern = [(30, 0), (120, 1), (10, 0), (80, 1), (60, 0), (150, 1), (45, 0), (90, 1), (40, 0)]
    x, on = recording(pattern, 300.0)
    expected = merged(on, int(0.3 * SAMPLE_RATE))
    # The 0.1 s pause is bridged, the 0.6 s and 0.45 s ones are not.
    assert expected == [(30 * F, 240 * F), (300 * F, 450 * F), (495 * F, 585 * F)]
    # A 40 ms click in the middle of 1 s of silence is not speech.
    click = np.zeros(100 * F, dtype=np.float32)
    click[48 * F : 52 * F] = tone(4 * F, 1000.0)
    x = np.concatenate([x, click])
    rng = np.random.default_rng(0)
    noisy = x + 1e-4 * rng.standard_normal(len(x)).astype(np.float32)
    for signal in (x, noisy):
        got = [tuple(r) for r in speech_segments(signal, min_pause=0.3).tolist()]
        assert got == expected


def _expected_segments(conv, known, min_pause=0.3):
    """Reference worked out from where each excerpt was placed and the known tone positions."""
    out = []
    for p in conv.placements:
        shift = p.start - p.source_start
        for a, b in merged(known[p.recording], int(min_pause * SAMPLE_RATE)):
            if a >= p.source_start and b <= p.source_end:
                out.append((a + shift, b + shift, p.speaker))
            else:  # an excerpt never cuts through speech
                assert b <= p.source_start or a >= p.source_end
    return sorted(out)


def _conversations(source_dir, config, n=4):
    sources = load_sources(source_dir, config.min_pause)
    return [
        simulate_conversation(f"t{i}", sources, config, np.random.default_rng([config.seed, i]))
        for i in range(n)
    ]


def test_reference_equals_placed_speech(source_dir):
    root, known = source_dir
    config = SimulationConfig(minutes=0.4, overlap=(0.05, 0.15))
    for conv in _conversations(root, config):
        assert conv.segments == _expected_segments(conv, known)
        # Before the room, the signal is non-zero exactly on the labelled samples.
        mask = np.zeros(len(conv.dry), dtype=bool)
        for s, e, _ in conv.segments:
            mask[s:e] = True
        nonzero = conv.dry != 0
        assert not np.any(nonzero & ~mask)
        for s, e, _ in conv.segments:
            assert nonzero[s] and nonzero[e - 1]
        # Every boundary is on the 1 ms grid, so millisecond RTTM is exact.
        assert all(s % 16 == 0 and e % 16 == 0 for s, e, _ in conv.segments)


def test_overlap_fraction_in_requested_range(source_dir):
    root, _ = source_dir
    for lo, hi in ((0.05, 0.15), (0.0, 0.0)):
        for conv in _conversations(root, SimulationConfig(minutes=0.4, overlap=(lo, hi))):
            frac = overlap_fraction(conv.segments)
            assert lo <= frac <= hi
            assert 2 <= len(conv.info["speakers"]) <= 4


def test_overlap_fraction_by_hand():
    segs = [(0, 100, "a"), (50, 150, "b"), (200, 300, "a")]
    assert overlap_fraction(segs) == pytest.approx(50 / 250)


def test_snr_in_requested_range(source_dir):
    root, _ = source_dir
    config = SimulationConfig(minutes=0.4, snr_db=(8.0, 12.0), seed=3)
    for conv in _conversations(root, config):
        mask = np.zeros(len(conv.speech), dtype=bool)
        for s, e, _ in conv.segments:
            mask[s:e] = True
        speech = np.mean(conv.speech[mask].astype(np.float64) ** 2)
        noise = np.mean(conv.noise.astype(np.float64) ** 2)
        snr = 10 * np.log10(speech / noise)
        assert 8.0 - 1e-3 <= snr <= 12.0 + 1e-3
        assert snr == pytest.approx(conv.info["snr_db"], abs=0.01)
        assert np.max(np.abs(conv.waveform)) <= 0.9 + 1e-6


def _write_extras(root):
    """A stereo 44.1 kHz noise recording and a 48 kHz impulse response with a pre-delay."""
    rng = np.random.default_rng(1)
    noise_dir, rir_dir = root / "noise", root / "rir"
    noise_dir.mkdir(exist_ok=True)
    rir_dir.mkdir(exist_ok=True)
    sf.write(noise_dir / "hum.wav", 0.1 * rng.standard_normal((44100 * 3, 2)), 44100)
    rir = np.zeros(48000 // 2)
    rir[240] = 1.0
    rir[241:] = (
        0.05 * rng.standard_normal(len(rir) - 241) * np.exp(-np.arange(len(rir) - 241) / 2000)
    )
    sf.write(rir_dir / "room.wav", rir, 48000)
    return noise_dir, rir_dir


def test_same_seed_same_bytes_and_files_on_disk(source_dir, tmp_path):
    root, known = source_dir
    noise_dir, rir_dir = _write_extras(tmp_path)
    config = SimulationConfig(num_files=3, minutes=0.3, seed=5)
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        summary = simulate(out, config, source=root, noise_dir=noise_dir, rir_dir=rir_dir)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) == 3 * 3 + 4
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    uris = (outs[0] / "all.lst").read_text().split()
    assert uris == [f["uri"] for f in summary["files"]] == [f"sim-s5-{i:03d}" for i in range(3)]
    for uri in uris:
        wav, rate = sf.read(outs[0] / "wav" / f"{uri}.wav")
        assert rate == SAMPLE_RATE and wav.ndim == 1
        ((start, end),) = read_uem(outs[0] / "uem" / f"{uri}.uem")[uri]
        assert start == 0.0 and end == pytest.approx(len(wav) / SAMPLE_RATE, abs=1e-3)
        ref = read_rttm(outs[0] / "rttm" / f"{uri}.rttm")[uri]
        # RTTM times read back are the exact sample positions.
        for t in ref.turns:
            assert t.start * SAMPLE_RATE == pytest.approx(round(t.start * SAMPLE_RATE), abs=1e-6)
            assert t.end * SAMPLE_RATE == pytest.approx(round(t.end * SAMPLE_RATE), abs=1e-6)
    other = tmp_path / "c"
    simulate(other, SimulationConfig(num_files=1, minutes=0.3, seed=6), source=root)
    assert (other / "wav" / "sim-s6-000.wav").read_bytes() != (
        outs[0] / "wav" / "sim-s5-000.wav"
    ).read_bytes()


def test_rttm_on_disk_matches_conversation(source_dir, tmp_path):
    root, known = source_dir
    config = SimulationConfig(num_files=2, minutes=0.4, seed=2, overlap=(0.1, 0.2))
    simulate(tmp_path / "out", config, source=root)
    sources = load_sources(root)
    for i in range(2):
        uri = f"sim-s2-{i:03d}"
        conv = simulate_conversation(uri, sources, config, np.random.default_rng([2, i]))
        ref = read_rttm(tmp_path / "out" / "rttm" / f"{uri}.rttm")[uri]
        got = sorted(
            (round(t.start * SAMPLE_RATE), round(t.end * SAMPLE_RATE), t.speaker) for t in ref.turns
        )
        assert got == _expected_segments(conv, known)


def test_load_folder_resamples_to_mono_16k(tmp_path):
    noise_dir, rir_dir = _write_extras(tmp_path)
    ((name, x),) = load_folder(noise_dir)
    assert name == "hum.wav" and x.ndim == 1 and len(x) == 3 * SAMPLE_RATE
    ((_, rir),) = load_folder(rir_dir)
    assert len(rir) == SAMPLE_RATE // 2 and int(np.argmax(np.abs(rir))) == 80


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_simulate(source_dir, tmp_path):
    root, _ = source_dir
    out = tmp_path / "sim"
    res = _run(
        "simulate", out, "--source", root, "--num-files", 2, "--minutes", 0.3,
        "--overlap", "0.05-0.1", "--snr-db", 10, 15, "--noise", "none", "--rir", "none", "-q",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (out / "all.lst").read_text().split() == ["sim-s0-000", "sim-s0-001"]
    for uri in ("sim-s0-000", "sim-s0-001"):
        ref = read_rttm(out / "rttm" / f"{uri}.rttm")[uri]
        segs = [(t.start, t.end, t.speaker) for t in ref.turns]
        assert 0.05 - 1e-3 <= overlap_fraction(segs) <= 0.1 + 1e-3


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["--source", "{tmp}/missing"], 1, "source folder not found"),
        (["--overlap", "a-b"], 2, "LOW-HIGH"),
        (["--overlap", "0.3-0.1"], 1, "overlap range"),
        (["--min-speakers", "4", "--max-speakers", "2"], 1, "min_speakers"),
        (["--minutes", "0.1", "--min-speakers", "4"], 1, "fewer than the minimum of 4"),
    ],
)
def test_cli_simulate_errors(source_dir, tmp_path, args, code, fragment):
    root, _ = source_dir
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--source" not in args:
        args += ["--source", str(root)]
    res = _run("simulate", tmp_path / "out", *args, "-q")
    assert res.exit_code == code, res.output
    assert fragment in res.output


def test_image_rooms_and_fixed_talker_counts(source_dir):
    """room = "image": every talker's response starts with its direct path (peak 1 at lag
    0, so the labels need no shift) and decays; speaker_counts gives file i its count."""
    from diarize.simulate import _image_rir

    rng = np.random.default_rng(0)
    room = np.array([6.0, 5.0, 3.0])
    rir = _image_rir(rng, 0.5, room, np.array([3.0, 2.5, 0.8]))
    assert rir[0] == 1.0 and np.argmax(np.abs(rir)) == 0
    energy = np.convolve(rir**2, np.ones(800), mode="valid")[::800]
    assert energy[-1] < 1e-3 * energy[1]  # decayed by > 30 dB within 1.2 x RT60
    folder, _ = source_dir
    sources = load_sources(folder)
    config = SimulationConfig(num_files=1, minutes=0.5, room="image", speaker_counts=(3,))
    conv = simulate_conversation("x", sources, config, np.random.default_rng(1), num_speakers=3)
    assert conv.info["room"]["kind"] == "image" and len(conv.info["speakers"]) == 3
    with pytest.raises(ConfigError, match="room"):
        SimulationConfig(room="hall").check()
