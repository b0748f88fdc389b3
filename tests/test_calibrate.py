import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")  # fit-backend needs the train extra

from diarize.calibrate import (  # noqa: E402
    CalibrationConfig,
    fit_backend,
    list_audio,
    lowest_near_best,
)
from diarize.config import update_config  # noqa: E402
from diarize.encoder import load_encoder, save_encoder  # noqa: E402
from diarize.pipeline import Pipeline  # noqa: E402
from tests.conftest import SR, SYNTH_CONFIG, conversation, synth_voice  # noqa: E402


def _tiny_model(tmp_path, tiny_encoder):
    model = tmp_path / "tiny.pt"
    save_encoder(model, tiny_encoder.model, tiny_encoder.feature_config, {"name": "tiny"})
    return model


def _voice_recordings(folder, count, seconds):
    """``count`` one-voice "recordings", each a different synthetic voice, 1 s pauses."""
    folder.mkdir()
    for i in range(count):
        x = synth_voice(90 + 35 * i, (500 + 80 * i, 1500 + 150 * i), seconds, seed=i)
        pause = np.zeros(SR, dtype=np.float32)
        x = np.concatenate([pause, x, pause])
        x += 1e-3 * np.random.default_rng(i).standard_normal(len(x)).astype(np.float32)
        sf.write(folder / f"rec{i}.wav", x, SR)
    return folder


def _conversation_folder(root):
    """``diarize simulate`` layout with one conversation: A, B, A, B, 3 s each."""
    (root / "wav").mkdir(parents=True)
    (root / "rttm").mkdir()
    x, turns = conversation()
    sf.write(root / "wav" / "c0.wav", x, SR)
    (root / "rttm" / "c0.rttm").write_text(
        "".join(f"SPEAKER c0 1 {s:.3f} {e - s:.3f} <NA> <NA> {w} <NA> <NA>\n" for s, e, w in turns)
    )
    return root


def test_fit_backend_writes_a_loadable_checkpoint(tmp_path, tiny_torch_encoder):
    model = _tiny_model(tmp_path, tiny_torch_encoder)
    data = _voice_recordings(tmp_path / "data", 6, 8.0)
    out = tmp_path / "calibrated.pt"
    cfg = CalibrationConfig(num_mixtures=20, plda_rank=8, min_windows=3, vad=SYNTH_CONFIG.vad)
    summary = fit_backend(model, [data], out, cfg)
    assert summary["recordings"] == 6 and summary["pseudo_speakers"] >= 2
    ckpt = torch.load(out, weights_only=True)
    assert {"plda", "cosine_threshold", "plda_threshold"} <= set(ckpt["extra"])
    enc = load_encoder(out)
    assert enc.extra["cosine_threshold"] == summary["cosine_threshold"]
    # The pipeline can use both back ends of the calibrated model.
    x, _ = conversation()
    for scoring in ("cosine", "plda"):
        cfgp = update_config(SYNTH_CONFIG, {"cluster": {"scoring": scoring}})
        d = Pipeline(cfgp, encoder=enc)(x, num_speakers=2)
        assert d.num_speakers == 2


def test_list_audio_folders_and_lists(tmp_path):
    (tmp_path / "a").mkdir()
    sf.write(tmp_path / "a" / "x.flac", np.zeros(1600, np.float32), SR)
    (tmp_path / "a" / "notes.txt").write_text("hello")
    lst = tmp_path / "files.lst"
    lst.write_text("a/x.flac\n")
    assert list_audio([tmp_path / "a"]) == [tmp_path / "a" / "x.flac"]
    assert list_audio([lst]) == [tmp_path / "a" / "x.flac"]


def test_conversation_der_by_hand(tmp_path, tiny_torch_encoder):
    from diarize.calibrate import conversation_der

    _conversation_folder(tmp_path)  # A, B, A, B: 3 s each, 0.5 s pauses
    der = conversation_der(
        tiny_torch_encoder, tmp_path, "cosine", np.array([-1.0, 0.5]), vad=SYNTH_CONFIG.vad
    )
    assert der.shape == (2,)
    # Threshold -1 merges everything: one speaker for two equal talkers is 50 % confusion,
    # plus whatever the speech detector adds at the turn edges.
    assert 0.45 < der[0] < 0.6
    # The same conversation through an 8 kHz channel: merging everything is still 50 %.
    narrow = conversation_der(
        tiny_torch_encoder,
        tmp_path,
        "cosine",
        np.array([-1.0]),
        vad=SYNTH_CONFIG.vad,
        narrowband=True,
    )
    assert 0.45 < narrow[0] < 0.6
    # The scaled rule: a scale of 1000 puts the threshold below every similarity (one
    # speaker, 50 % again); a scale near 0 puts it just under 1 (windows kept apart).
    scaled = conversation_der(
        tiny_torch_encoder,
        tmp_path,
        "cosine",
        np.array([1e-6, 1000.0]),
        vad=SYNTH_CONFIG.vad,
        count="scaled",
    )
    assert 0.45 < scaled[1] < 0.6
    assert scaled[0] != scaled[1]
    with pytest.raises(ValueError, match="count"):
        conversation_der(tiny_torch_encoder, tmp_path, "cosine", np.array([1.0]), count="eigengap")


def test_fit_backend_learns_a_narrowband_threshold_from_conversations(tmp_path, tiny_torch_encoder):
    model = _tiny_model(tmp_path, tiny_torch_encoder)
    data = _voice_recordings(tmp_path / "data", 4, 6.0)
    conv = _conversation_folder(tmp_path / "conv")
    cfg = CalibrationConfig(
        num_mixtures=10,
        plda_rank=4,
        min_windows=3,
        vad=SYNTH_CONFIG.vad,
        cosine_candidates=(-1.0, 0.5, 0.9999),
        scale_candidates=(0.5, 1000.0),
    )
    summary = fit_backend(model, [data], tmp_path / "out.pt", cfg, conversations=conv)
    extra = load_encoder(tmp_path / "out.pt").extra
    assert extra["cosine_threshold_narrowband"] == summary["cosine_threshold_narrowband"]
    assert extra["cosine_threshold_narrowband"] in cfg.cosine_candidates
    assert extra["cosine_threshold"] in cfg.cosine_candidates
    # The scaled rule's scale: the candidate with the lowest DER over the conversations as
    # recorded and through 8 kHz together, in the calibration record; the pipeline does not
    # take it from the model.
    assert summary["count_scale"] in cfg.scale_candidates
    assert extra["calibration"]["count_scale"] == summary["count_scale"]
    assert "count_scale" not in extra
    pooled = np.add(summary["count_scale_der_curve"], summary["count_scale_der_curve_narrowband"])
    assert pooled[list(cfg.scale_candidates).index(summary["count_scale"])] <= pooled.min() + 1e-3


def test_lowest_near_best_steps_down_the_flat_bottom_only():
    c = np.array([0.4, 0.45, 0.5, 0.55, 0.6, 0.65])
    # 0.55 is 0.2 points above the best (0.60) and within tolerance; 0.5 is not.
    e = np.array([0.2750, 0.40, 0.31, 0.2767, 0.2748, 0.29])
    assert c[lowest_near_best(c, e, 0.005)] == 0.55
    assert c[lowest_near_best(c, e, 0.0)] == 0.6
    # A tolerance wide enough for 0.5 continues the walk down to it...
    assert c[lowest_near_best(c, e, 0.04)] == 0.5
    # ...but never jumps over a worse candidate to a distant dip (0.40 is nearly as good
    # as the best but 0.45 between them is far worse).
    assert c[lowest_near_best(c, e, 0.1)] == 0.5
    assert c[lowest_near_best(c, e, 0.2)] == 0.4
    # The best at the lowest candidate stays there.
    assert c[lowest_near_best(c, np.linspace(0.1, 0.2, 6), 0.5)] == 0.4
    with pytest.raises(ValueError):
        lowest_near_best(c[::-1], e, 0.005)
    with pytest.raises(ValueError):
        lowest_near_best(c, e[:3], 0.005)
