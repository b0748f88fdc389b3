import copy
import dataclasses

import numpy as np
import pytest
import soundfile as sf

from diarize.config import PipelineConfig, update_config
from diarize.errors import AudioError, ConfigError
from diarize.pipeline import Pipeline
from diarize.types import Diarization
from tests.conftest import SR, SYNTH_CONFIG, conversation


@pytest.fixture(scope="module")
def pipeline(tiny_encoder):
    return Pipeline(SYNTH_CONFIG, encoder=tiny_encoder)


def _overlap(a, b):
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def test_two_known_voices_are_found(pipeline, two_voices):
    x, truth = two_voices
    d = pipeline(x, uri="conv", num_speakers=2)
    assert isinstance(d, Diarization) and d.num_speakers == 2
    # Each reference turn is mostly covered by one hypothesis speaker, and A/B differ.
    owner = {}
    for start, end, who in truth:
        cover = {}
        for t in d.turns:
            cover[t.speaker] = cover.get(t.speaker, 0.0) + _overlap((start, end), (t.start, t.end))
        best = max(cover, key=cover.get)
        assert cover[best] > 0.8 * (end - start)
        owner.setdefault(who, set()).add(best)
    assert all(len(v) == 1 for v in owner.values())
    assert owner["A"] != owner["B"]


def test_turns_stay_inside_the_signal_and_sorted(pipeline, two_voices):
    x, _ = two_voices
    d = pipeline(x, num_speakers=2)
    assert all(0 <= t.start < t.end <= len(x) / SR + 1e-9 for t in d.turns)
    assert list(d.turns) == sorted(d.turns)


def test_deterministic(pipeline, two_voices):
    x, _ = two_voices
    assert pipeline(x, uri="u").to_rttm() == pipeline(x, uri="u").to_rttm()


def test_silence_gives_empty_result(pipeline):
    d = pipeline(np.zeros(3 * SR, dtype=np.float32), uri="quiet")
    assert d.turns == () and d.to_rttm() == ""
    assert d.duration == 3.0


def test_too_short_is_a_clear_error(pipeline):
    with pytest.raises(AudioError, match="shorter than the shortest window"):
        pipeline(np.zeros(int(0.2 * SR), dtype=np.float32), uri="short")


def test_exact_speaker_count_is_honoured(pipeline):
    x, _ = conversation(pattern=("A", "B", "A", "B", "A", "B"), turn=2.0)
    for n in (1, 2, 3):
        assert pipeline(x, num_speakers=n).num_speakers == n


def test_max_speakers_bounds(tiny_encoder):
    x, _ = conversation(pattern=("A", "B", "A", "B"), turn=2.0)
    # Without the second resegmentation pass, which may merge the extra clusters again.
    cfg = update_config(
        SYNTH_CONFIG, {"cluster": {"threshold": 0.9999}, "resegment": {"gmm_rounds": 0}}
    )
    p = Pipeline(cfg, encoder=tiny_encoder)
    assert p(x).num_speakers > 2  # the near-1 threshold over-splits ...
    assert p(x, max_speakers=2).num_speakers == 2  # ... and the bound caps it


def test_no_resegmentation_path(tiny_encoder, two_voices):
    x, _ = two_voices
    cfg = update_config(SYNTH_CONFIG, {"resegment": {"enabled": False}})
    d = Pipeline(cfg, encoder=tiny_encoder)(x, num_speakers=2)
    assert d.num_speakers == 2


def test_plda_without_back_end_is_a_clear_error(tiny_encoder, two_voices):
    from diarize.errors import ConfigError

    cfg = update_config(SYNTH_CONFIG, {"cluster": {"scoring": "plda"}})
    with pytest.raises(ConfigError, match="no PLDA back end"):
        Pipeline(cfg, encoder=tiny_encoder)(two_voices[0])


@pytest.mark.parametrize(
    "cluster, message",
    [
        ({"count": "vbx"}, "no PLDA back end"),
        ({"narrowband_count": "vbx"}, "no PLDA back end"),
        ({"count": "vbx", "vbx_start": "eigengap"}, "unknown vbx_start"),
    ],
)
def test_vbx_without_its_needs_is_a_clear_error_before_any_work(
    tiny_encoder, two_voices, cluster, message, monkeypatch
):
    from diarize import pipeline as pipeline_module
    from diarize.errors import ConfigError

    def never(*args, **kwargs):
        raise AssertionError("the speech detector ran")

    monkeypatch.setattr(pipeline_module, "detect_regions", never)
    cfg = update_config(SYNTH_CONFIG, {"cluster": cluster})
    with pytest.raises(ConfigError, match=message):
        Pipeline(cfg, encoder=tiny_encoder)(two_voices[0])


def test_narrowband_audio_takes_the_models_narrowband_threshold(tiny_encoder, two_voices):
    import copy

    from diarize import audio

    x, _ = two_voices
    # Wideband threshold: every window its own speaker; narrowband: one speaker.
    enc = copy.copy(tiny_encoder)
    enc.extra = {"cosine_threshold": 0.99999, "cosine_threshold_narrowband": -1.0}
    cfg = update_config(
        SYNTH_CONFIG, {"resegment": {"gmm_rounds": 0}, "cluster": {"narrowband_count": ""}}
    )
    pipe = Pipeline(cfg, encoder=enc)
    wide = pipe.analyse(x)
    narrow = pipe.analyse(audio.resample(audio.resample(x, SR, 8000), 8000, SR))
    assert not wide.narrowband and narrow.narrowband
    assert pipe.scorer(cfg, narrowband=False)[1] == 0.99999
    assert pipe.scorer(cfg, narrowband=True)[1] == -1.0
    assert pipe.decide(narrow).num_speakers == 1
    assert pipe.decide(wide).num_speakers > 1
    # An explicit threshold wins over both.
    fixed = update_config(cfg, {"cluster": {"threshold": 0.3}})
    assert pipe.scorer(fixed, narrowband=True)[1] == 0.3


def test_a_quiet_recording_is_diarized_like_a_normal_one(pipeline, two_voices):
    from diarize import audio

    x, _ = two_voices
    level = audio.loud_level_db(x)
    # -42 dBFS is raised by 30 dB to -12 dBFS; -12 dBFS is left as it is.
    normal = (x * np.float32(10 ** ((-12 - level) / 20))).astype(np.float32)
    quiet = (x * np.float32(10 ** ((-42 - level) / 20))).astype(np.float32)
    kept = quiet.copy()
    a = pipeline(normal, num_speakers=2)
    b = pipeline(quiet, num_speakers=2)
    np.testing.assert_array_equal(quiet, kept)  # the caller's array is not scaled
    assert [t.speaker for t in a.turns] == [t.speaker for t in b.turns]
    for s, t in zip(a.turns, b.turns, strict=True):
        assert abs(s.start - t.start) < 0.05 and abs(s.end - t.end) < 0.05


def test_an_int16_array_is_read_like_the_16_bit_file(pipeline, two_voices, tmp_path, monkeypatch):
    from diarize import audio

    x, _ = two_voices
    # Quiet enough to be raised, so the int16 scaling path is exercised too.
    pcm = audio.to_pcm16(x * np.float32(10 ** ((-30 - audio.loud_level_db(x)) / 20)))
    path = tmp_path / "quiet.wav"
    sf.write(path, pcm, 16000, subtype="PCM_16")
    seen = []
    raise_quiet = audio.raise_quiet

    def spy(waveform, **kwargs):
        seen.append((waveform.dtype, audio.loud_level_db(waveform)))
        return raise_quiet(waveform, **kwargs)

    monkeypatch.setattr(audio, "raise_quiet", spy)
    kept = pcm.copy()
    from_file = pipeline(path, uri="q")
    from_array = pipeline(pcm, uri="q")
    np.testing.assert_array_equal(pcm, kept)  # raised on a copy
    assert from_array.turns == from_file.turns
    # Both reach the level stage as 16-bit PCM at -30 dBFS (not as sample values up to
    # 32767 taken for floats, which would read as +60 dBFS and never be raised).
    assert [d for d, _ in seen] == [np.int16, np.int16]
    assert [round(level) for _, level in seen] == [-30, -30]


def test_an_exact_count_that_cannot_be_met_is_warned_about(pipeline, two_voices, caplog):
    x, _ = two_voices
    d = pipeline(x, num_speakers=40)  # far more speakers than the recording has windows for
    assert 0 < d.num_speakers < 40
    assert f"40 speakers asked for, {d.num_speakers} found" in caplog.text


@pytest.mark.parametrize(
    ("model", "count"),
    [(None, "auto"), (None, "scaled"), (None, "given"), ("encoder-v1.onnx", "threshold")],
)
@pytest.mark.parametrize("band", ["wide", "telephone"])
def test_the_shipped_defaults_tell_two_different_voices_apart(band, model, count):
    """Two synthetic voices an octave apart (110 and 230 Hz, different formants) taking turns:
    the shipped model with its default count (VBx), with the scaled rule and with the count
    given (AHC on PLDA scores), and the previous model with its own default (the learned
    threshold), must find two speakers, each owning its own turns, at 16 kHz and through an
    8-kHz channel."""
    from diarize import audio
    from diarize.encoder import MODELS_DIR, load_encoder

    x, truth = conversation(pattern=("A", "B", "A", "B", "A", "B"), turn=4.0)
    if band == "telephone":
        x = audio.resample(audio.resample(x, SR, 8000), 8000, SR)
    # the shipped encoder; Silero would call vowels non-speech
    encoder = load_encoder(MODELS_DIR / model) if model else None
    given = {"num_speakers": 2} if count == "given" else {"count": count}
    pipe = Pipeline(update_config(SYNTH_CONFIG, {"cluster": given}), encoder=encoder)
    if count == "given":
        assert pipe.resolve_scoring(pipe.config) == "plda"
    analysis = pipe.analyse(x, uri="two")
    assert analysis.narrowband == (band == "telephone")
    d = pipe.decide(analysis)
    assert d.num_speakers == 2
    owner = {}
    for start, end, who in truth:
        cover = {}
        for t in d.turns:
            cover[t.speaker] = cover.get(t.speaker, 0.0) + _overlap((start, end), (t.start, t.end))
        owner.setdefault(who, set()).add(max(cover, key=cover.get))
    assert len(owner["A"]) == len(owner["B"]) == 1 and owner["A"] != owner["B"]


@pytest.mark.parametrize("band", ["wide", "telephone"])
def test_the_shipped_defaults_keep_one_voice_one(band):
    """One synthetic voice (110 Hz) in six turns with pauses, the companion of the test
    above: the shipped model with its default count (VBx) must give one speaker, at 16 kHz
    and through an 8-kHz channel."""
    from diarize import audio

    x, _ = conversation(pattern=("A",) * 6, turn=4.0)
    if band == "telephone":
        x = audio.resample(audio.resample(x, SR, 8000), 8000, SR)
    pipe = Pipeline(SYNTH_CONFIG)
    d = pipe.decide(pipe.analyse(x, uri="one"))
    assert d.num_speakers == 1


def test_telephone_band_input_is_counted_by_the_scaled_rule_unless_told_otherwise(
    tiny_encoder, two_voices
):
    from diarize import audio

    x, _ = two_voices
    # A narrowband threshold that merges everything: the default rule for telephone-band
    # input does not use it; an explicit threshold, or narrowband_count = "", does.
    enc = copy.copy(tiny_encoder)
    enc.extra = {"cosine_threshold": 0.5, "cosine_threshold_narrowband": -1.0}
    cfg = update_config(SYNTH_CONFIG, {"resegment": {"gmm_rounds": 0}})
    pipe = Pipeline(cfg, encoder=enc)
    narrow = pipe.analyse(audio.resample(audio.resample(x, SR, 8000), 8000, SR))
    assert narrow.narrowband
    assert (
        pipe.decide(narrow, update_config(cfg, {"cluster": {"narrowband_count": ""}})).num_speakers
        == 1
    )
    assert (
        pipe.decide(narrow, update_config(cfg, {"cluster": {"threshold": -1.0}})).num_speakers == 1
    )
    assert pipe.decide(narrow).num_speakers > 1


def test_auto_count_is_vbx_for_a_model_with_plda_and_threshold_without(tiny_encoder):
    from diarize.encoder import load_encoder
    from diarize.pipeline import RunOptions

    assert PipelineConfig().cluster.count == "auto"
    # the tiny test encoder carries no back end; the shipped one carries a PLDA
    assert "plda" not in (tiny_encoder.extra or {})
    plain = Pipeline(SYNTH_CONFIG, encoder=tiny_encoder)
    assert plain.resolve_count(SYNTH_CONFIG).cluster.count == "threshold"
    shipped = Pipeline(SYNTH_CONFIG, encoder=load_encoder())
    assert shipped.resolve_count(SYNTH_CONFIG).cluster.count == "vbx"
    # an explicit rule is kept as it is
    scaled = update_config(SYNTH_CONFIG, {"cluster": {"count": "scaled"}})
    assert shipped.resolve_count(scaled).cluster.count == "scaled"
    # --threshold alone selects the rule that stops at it; with --count, --count wins
    assert RunOptions().build_config().cluster.count == "auto"
    assert RunOptions(threshold=0.5).build_config().cluster.count == "threshold"
    assert RunOptions(threshold=0.5, count="vbx").build_config().cluster.count == "vbx"


def test_auto_scoring_is_plda_only_for_a_given_count_with_a_plda(tiny_encoder):
    from diarize.encoder import load_encoder

    assert PipelineConfig().cluster.scoring == "auto"
    given = update_config(SYNTH_CONFIG, {"cluster": {"num_speakers": 3}})
    bounded = update_config(SYNTH_CONFIG, {"cluster": {"max_speakers": 3}})
    shipped = Pipeline(SYNTH_CONFIG, encoder=load_encoder())
    assert shipped.resolve_scoring(given) == "plda"
    assert shipped.resolve_scoring(bounded) == "cosine"
    assert shipped.resolve_scoring(SYNTH_CONFIG) == "cosine"
    # the PLDA's own threshold and score function are the ones AHC gets
    similarity, threshold = shipped.scorer(given)
    assert threshold == shipped.encoder.extra["plda_threshold"]
    assert similarity == shipped.plda().score_matrix
    # a model without a back end still runs with a given count: cosine
    plain = Pipeline(SYNTH_CONFIG, encoder=tiny_encoder)
    assert plain.resolve_scoring(given) == "cosine"
    # an explicit choice is kept
    cosine = update_config(given, {"cluster": {"scoring": "cosine"}})
    assert shipped.resolve_scoring(cosine) == "cosine"


def test_the_telephone_band_switch_replaces_only_rules_that_stop_at_a_learned_threshold():
    from diarize.encoder import load_encoder

    pipe = Pipeline(SYNTH_CONFIG, encoder=load_encoder())

    def counted(**cluster):
        cfg = update_config(SYNTH_CONFIG, {"cluster": cluster})
        return pipe.count_config(cfg, narrowband=True).count

    assert counted() == "vbx"  # auto -> vbx started from the scaled rule: no switch
    assert counted(count="vbx", vbx_start="threshold") == "scaled"
    assert counted(count="threshold") == "scaled"
    assert counted(count="threshold", threshold=0.3) == "threshold"
    assert counted(count="nme-sc") == "nme-sc"
    wide = update_config(SYNTH_CONFIG, {"cluster": {"count": "threshold"}})
    assert pipe.count_config(wide, narrowband=False).count == "threshold"


def test_telephone_band_input_gets_its_own_vbx_fb_only_when_counted_by_vbx():
    from diarize.encoder import load_encoder

    pipe = Pipeline(SYNTH_CONFIG, encoder=load_encoder())
    cfg = update_config(SYNTH_CONFIG, {"cluster": {"vbx_fb": 5.0, "narrowband_vbx_fb": 4.0}})
    assert pipe.count_config(cfg, narrowband=True).vbx_fb == 4.0
    assert pipe.count_config(cfg, narrowband=False).vbx_fb == 5.0
    # None: the wideband value
    same = dataclasses.replace(
        cfg, cluster=dataclasses.replace(cfg.cluster, narrowband_vbx_fb=None)
    )
    assert pipe.count_config(same, narrowband=True).vbx_fb == 5.0
    # a telephone recording counted by another rule keeps vbx_fb (it is not used there)
    scaled = update_config(cfg, {"cluster": {"count": "scaled"}})
    assert pipe.count_config(scaled, narrowband=True).vbx_fb == 5.0
    with pytest.raises(ConfigError, match="narrowband_vbx_fb"):
        update_config(SYNTH_CONFIG, {"cluster": {"narrowband_vbx_fb": 0.0}})


def _plda_dict(dim: int, psi: float) -> dict:
    return {
        "mean": np.zeros(dim),
        "whiten": np.eye(dim),
        "transform": np.eye(dim),
        "psi": np.full(dim, psi),
    }


def test_telephone_band_input_is_scored_by_the_telephone_band_plda(
    tiny_encoder, two_voices, monkeypatch
):
    from diarize import pipeline as pipeline_module

    x, _ = two_voices
    wide = Pipeline(SYNTH_CONFIG, encoder=tiny_encoder).analyse(x)
    dim = wide.embeddings.shape[1]
    enc = copy.copy(tiny_encoder)
    enc.extra = {"plda": _plda_dict(dim, 1.0), "narrowband_plda": _plda_dict(dim, 2.0)}
    pipe = Pipeline(SYNTH_CONFIG, encoder=enc)
    # the telephone-band PLDA for telephone-band input only
    assert pipe.plda(False).psi[0] == 1.0 and pipe.plda(True).psi[0] == 2.0
    # what VBx gets from decide: the one for the recording's band
    seen = []

    def fake_cluster(embeddings, config, threshold, similarity, **kwargs):
        seen.append(kwargs["plda"].psi[0])
        return np.zeros(len(embeddings), dtype=np.int64)

    monkeypatch.setattr(pipeline_module, "cluster", fake_cluster)
    narrow = dataclasses.replace(wide, narrowband=True)
    vbx = update_config(SYNTH_CONFIG, {"cluster": {"count": "vbx", "narrowband_plda": True}})
    off = update_config(vbx, {"cluster": {"narrowband_plda": False}})
    for config, analysis, expected in ((vbx, wide, 1.0), (vbx, narrow, 2.0), (off, narrow, 1.0)):
        seen.clear()
        pipe.decide(analysis, config)
        assert seen == [expected]
    # scoring by PLDA with a given count (no threshold read): the telephone-band one; with
    # a threshold to stop at, the wideband one, whose threshold that is
    on = {"scoring": "plda", "narrowband_plda": True}
    given = update_config(SYNTH_CONFIG, {"cluster": {"num_speakers": 2, **on}})
    bounded = update_config(SYNTH_CONFIG, {"cluster": {"max_speakers": 2, **on}})
    e = wide.embeddings[:5]
    for config, narrowband, psi in ((given, True, 2.0), (given, False, 1.0), (bounded, True, 1.0)):
        similarity, _ = pipe.scorer(config, narrowband)
        np.testing.assert_allclose(similarity(e), pipe.plda(psi == 2.0).score_matrix(e))
    # the two PLDAs score differently, so the checks above tell them apart
    assert not np.allclose(pipe.plda(True).score_matrix(e), pipe.plda(False).score_matrix(e))
    # a model without one: the wideband PLDA
    enc.extra = {"plda": _plda_dict(dim, 1.0)}
    assert Pipeline(SYNTH_CONFIG, encoder=enc).plda(True).psi[0] == 1.0


def test_the_shipped_model_carries_a_telephone_band_plda():
    from diarize.encoder import load_encoder

    pipe = Pipeline(PipelineConfig(), encoder=load_encoder())
    assert not PipelineConfig().cluster.narrowband_plda  # an option, off by default
    wide, narrow = pipe.plda(False), pipe.plda(True)
    assert wide.psi.shape == narrow.psi.shape and not np.allclose(wide.psi, narrow.psi)


def test_telephone_band_input_is_embedded_with_the_narrowband_statistics():
    from diarize import audio
    from diarize.encoder import load_encoder

    x, _ = conversation(pattern=("A", "B"), turn=3.0)
    narrow = audio.resample(audio.resample(x, SR, 8000), 8000, SR)
    encoder = load_encoder()
    variant = encoder.narrowband()
    pipe = Pipeline(SYNTH_CONFIG, encoder=encoder)
    for signal, expected in ((narrow, variant), (x, encoder)):
        a = pipe.analyse(signal)
        assert a.narrowband == (expected is variant)
        np.testing.assert_allclose(
            a.embeddings, expected.embed_windows(signal, a.bounds), atol=1e-5
        )
    off = update_config(SYNTH_CONFIG, {"embed": {"narrowband_statistics": False}})
    a = pipe.analyse(narrow, config=off)
    np.testing.assert_allclose(a.embeddings, encoder.embed_windows(narrow, a.bounds), atol=1e-5)
    assert not np.allclose(a.embeddings, variant.embed_windows(narrow, a.bounds), atol=1e-3)


def test_telephone_audio_upsampled_by_a_sharp_resampler_is_heard_through_8k(tmp_path, monkeypatch):
    """A telephone-band recording stored at 16 kHz by a sharp resampler (here an ideal one:
    the 8-kHz spectrum zero-padded) is heard by the speech detector through 8 kHz, as it
    hears a file stored at 8 kHz once read; one this package's resampler made (which holds
    those images already), a wideband one and one stored at 8 kHz are heard as they are, as
    everything is with ``[vad] narrowband_rate = 0``; the embeddings are those of the signal
    as stored."""
    from diarize import audio

    x, _ = conversation(pattern=("A", "B"), turn=3.0)
    narrow = audio.resample(x, SR, 8000)
    spectrum = np.zeros(len(narrow) + 1, dtype=complex)
    spectrum[: len(narrow) // 2 + 1] = np.fft.rfft(narrow)
    sharp = 2 * np.fft.irfft(spectrum, 2 * len(narrow))
    own = audio.resample(narrow, 8000, SR)
    sf.write(tmp_path / "wide.wav", x, SR, subtype="PCM_16")
    sf.write(tmp_path / "tel16-own.wav", own, SR, subtype="PCM_16")
    sf.write(tmp_path / "tel16-sharp.wav", sharp, SR, subtype="PCM_16")
    sf.write(tmp_path / "tel8.wav", narrow, 8000, subtype="PCM_16")
    for signal, added in ((own, False), (sharp, True)):  # the round trip adds images or not
        gain = audio.image_gain_db(signal, audio.through_rate(signal, 8000), 8000)
        assert (gain > audio.IMAGE_GAIN_DB) == added, gain
    calls = []
    real = audio.through_rate

    def spy(waveform, rate, sample_rate=SR, chunk=60.0):
        calls.append(rate)
        return real(waveform, rate, sample_rate, chunk)

    monkeypatch.setattr(audio, "through_rate", spy)
    pipe = Pipeline(SYNTH_CONFIG)  # narrowband_rate 8000 by default
    # through_rate is called for both 16-kHz telephone files, its result heard for one
    for name, wanted in (("wide", []), ("tel8", []), ("tel16-own", [8000])):
        calls.clear()
        analysis = pipe.analyse(tmp_path / f"{name}.wav")
        assert calls == wanted, name
        assert analysis.narrowband == name.startswith("tel")
    as_stored = Pipeline(update_config(SYNTH_CONFIG, {"vad": {"narrowband_rate": 0}}), pipe.encoder)
    np.testing.assert_array_equal(
        analysis.regions, as_stored.analyse(tmp_path / "tel16-own.wav").regions
    )
    calls.clear()
    sharp_analysis = pipe.analyse(tmp_path / "tel16-sharp.wav")
    assert calls == [8000]
    stored = audio.load(tmp_path / "tel16-sharp.wav", SR)
    np.testing.assert_allclose(
        sharp_analysis.embeddings,
        pipe.encoder.narrowband().embed_windows(stored, sharp_analysis.bounds),
        atol=1e-5,
    )
    calls.clear()
    as_stored.analyse(tmp_path / "tel16-sharp.wav")
    assert calls == []
    with pytest.raises(ConfigError, match="narrowband_rate"):
        update_config(SYNTH_CONFIG, {"vad": {"narrowband_rate": -8000}})


def test_min_pause_bridges_one_speakers_pauses_in_the_output(pipeline):
    """One voice, two turns 1.5 s apart: two turns as found, one turn once pauses under 2 s
    are bridged; the speech either side is kept as it was."""
    x, truth = conversation(pattern=("A", "A"), pause=1.5)
    apart = pipeline(x, uri="one", num_speakers=1)
    assert len(apart.turns) >= 2
    gaps = [b.start - a.end for a, b in zip(apart.turns[:-1], apart.turns[1:], strict=True)]
    assert max(gaps) > 0.5  # the pause between the two turns is there
    joined_config = update_config(SYNTH_CONFIG, {"resegment": {"min_pause": 2.0}})
    joined = Pipeline(joined_config, encoder=pipeline.encoder)(x, uri="one", num_speakers=1)
    assert [(t.start, t.end) for t in joined.turns] == [(apart.turns[0].start, apart.turns[-1].end)]
