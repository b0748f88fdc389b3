import pytest

from diarize.config import PipelineConfig, load_config, update_config
from diarize.errors import ConfigError


def test_toml_round_trip(tmp_path):
    cfg = update_config(PipelineConfig(), {"embed": {"step": 0.5}, "seed": 7})
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    assert load_config(path) == cfg


def test_explicit_zero_is_not_replaced_by_default():
    cfg = update_config(PipelineConfig(), {"vad": {"pad": 0.0, "min_speech": 0.0}})
    assert cfg.vad.min_speech == 0.0


def test_none_means_not_given():
    cfg = update_config(PipelineConfig(), {"cluster": {"threshold": None, "num_speakers": 3}})
    assert cfg.cluster.num_speakers == 3
    assert cfg.cluster.threshold is None


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[embed]\nwindw = 1.0\n", "unknown option"),
        ("[nope]\nx = 1\n", "unknown section"),
        ("[embed]\nwindow = 'long'\n", "must be float"),
        ("[cluster]\nthreshold = 'high'\n", "threshold must be float"),  # optional field
        ("[cluster]\nnum_speakers = 2.5\n", "num_speakers must be int"),
        ("[cluster]\nnum_speakers = 0\n", "num_speakers must be > 0"),
        ("[embed]\nstep = 0\n", "step must be > 0"),
        ("[vad]\npad = -0.1\n", "pad must be >= 0"),
        ("[cluster]\nthreshold = nan\n", "finite"),
        ("[resegment]\nenabled = 1\n", "enabled must be bool"),
        ("[vad]\npad = true\n", "pad must be float"),
        ("[cluster]\nvbx_loop = 1.0\n", "vbx_loop must be below 1"),
        ("[cluster]\nvbx_fb = 0\n", "vbx_fb must be > 0"),
        ("[cluster]\nvbx_recentre = 1.5\n", "vbx_recentre must be at most 1"),
        ("[cluster]\nvbx_recentre = -0.5\n", "vbx_recentre must be >= 0"),
        ("[vad]\nlowpass_hz = 8000\n", "lowpass_hz must be below 8000 Hz"),
        ("[vad]\nlowpass_gate_db = -3\n", "lowpass_gate_db must be >= 0"),
        ("[vad]\ninput_gain_db = inf\n", "finite"),
        ("[embed\n", "invalid TOML"),
    ],
)
def test_bad_config_files(tmp_path, text, fragment):
    # Every message is a one-line ConfigError raised at load, before any audio is read.
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(path)


def test_a_negative_plda_threshold_is_allowed():
    cfg = update_config(PipelineConfig(), {"cluster": {"threshold": -11.38, "scoring": "plda"}})
    assert cfg.cluster.threshold == -11.38


def test_a_negative_detector_gain_is_allowed(tmp_path):
    # A gain in decibels may attenuate as well as amplify.
    path = tmp_path / "quiet.toml"
    path.write_text("[vad]\ninput_gain_db = -3.5\n")
    assert load_config(path).vad.input_gain_db == -3.5
