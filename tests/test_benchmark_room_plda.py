"""The back end's PLDA re-estimated with room copies or on a share of its recordings."""

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from benchmarks.encoder import room_plda  # noqa: E402
from diarize.calibrate import CalibrationConfig  # noqa: E402
from diarize.nn import save_encoder  # noqa: E402
from tests.conftest import SR, SYNTH_CONFIG, synth_voice  # noqa: E402


def test_a_room_copy_keeps_length_and_peak_and_is_the_input_without_room_or_noise():
    rng = np.random.default_rng(0)
    x = synth_voice(120, (700, 1800), 2.0, seed=0)
    dry = room_plda.in_room(x, np.random.default_rng(1), (200.0, 200.0), (3.0, 15.0), p_room=0.0)
    assert dry.shape == x.shape and np.isclose(np.abs(dry).max(), 0.5)
    assert np.corrcoef(dry, x)[0, 1] > 0.9999
    wet = room_plda.in_room(x, rng, (10.0, 10.0), (0.0, 0.0))
    assert wet.shape == x.shape and np.corrcoef(wet, x)[0, 1] < 0.99
    again = room_plda.in_room(x, np.random.default_rng(0), (10.0, 10.0), (0.0, 0.0))
    assert np.array_equal(wet, again)


def test_room_copies_add_the_clean_windows_once_more_under_their_pseudo_speakers(
    tmp_path, tiny_torch_encoder, monkeypatch
):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        x = synth_voice(90 + 40 * i, (500 + 90 * i, 1500 + 160 * i), 8.0, seed=i)
        sf.write(data / f"rec{i}.wav", x, SR)
    enc = tiny_torch_encoder
    model = tmp_path / "m.pt"
    save_encoder(model, enc.model, enc.feature_config, {"name": "tiny"}, {"plda": {"old": 1}})
    config = CalibrationConfig(min_windows=3, plda_rank=8, vad=SYNTH_CONFIG.vad)
    monkeypatch.setattr(room_plda, "CalibrationConfig", lambda: config)

    def run(name, *args):
        out = tmp_path / f"{name}.pt"
        assert room_plda.main([str(model), str(out), "--data", str(data), *args]) == 0
        return torch.load(out, weights_only=True)["extra"]

    clean, rooms = run("clean"), run("rooms", "--rooms", "1", "--seed", "3")
    assert rooms["narrowband_plda"] == {"old": 1}  # the old PLDA, for telephone-band input
    record = rooms["plda"]["record"]
    assert record["rooms"] == 1 and record["recordings"] == 4
    assert record["pseudo_speakers"] == clean["plda"]["record"]["pseudo_speakers"] >= 2
    assert record["windows"] == 2 * clean["plda"]["record"]["windows"] > 0
    assert not np.allclose(rooms["plda"]["psi"], clean["plda"]["psi"])
    half = run("half", "--subset", "0.5")
    assert half["plda"]["record"]["recordings"] == 2
    assert len(clean["plda"]["psi"]) == 8  # the calibration's rank
    assert len(run("narrow", "--rank", "4")["plda"]["psi"]) == 4
    for bad in (["--subset", "0"], ["--p-room", "2"], ["--rooms", "-1"], ["--rank", "0"]):
        with pytest.raises(SystemExit):
            run("bad", *bad)
