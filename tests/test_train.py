"""diarize train on a tiny generated folder: steps run, checkpoints reload, resume continues."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import SR, synth_voice

torch = pytest.importorskip("torch")  # training needs the train extra

from diarize.cli import main  # noqa: E402
from diarize.encoder import load_encoder  # noqa: E402
from diarize.errors import ConfigError  # noqa: E402
from diarize.train import data as data_mod  # noqa: E402
from diarize.train.augment import AugmentConfig, Augmenter, augment_features  # noqa: E402
from diarize.train.loop import (  # noqa: E402
    TrainConfig,
    Trainer,
    TrainError,
    load_train_config,
    train,
)
from diarize.train.loss import Queue, barlow_twins, nt_xent  # noqa: E402

TINY = dict(channels=16, dilations=(2,), pool_channels=16, embed_dim=8, num_mel_bins=24)


@pytest.fixture()
def voices_dir(tmp_path):
    """Four 4-s synthetic 'speakers', one file each, with a silent second in the middle."""
    folder = tmp_path / "voices"
    folder.mkdir()
    for i, (f0, formants) in enumerate(
        [
            (100.0, (600.0, 1200.0)),
            (140.0, (700.0, 1800.0)),
            (200.0, (850.0, 2600.0)),
            (260.0, (500.0, 2200.0)),
        ]
    ):
        x = synth_voice(f0, formants, 4.0, seed=i)
        # A little noise makes every window unique (the synthetic voice repeats each second).
        x = x + 0.01 * np.random.default_rng(i).standard_normal(len(x)).astype(np.float32)
        x[SR : 2 * SR] = 0.0
        sf.write(folder / f"spk{i}-0-0.wav", x, SR)
    return folder


def _config(folder, out, **kw) -> TrainConfig:
    base = dict(
        data=(str(folder),),
        out=str(out),
        batch_size=4,
        window_seconds=0.5,
        num_steps=2,
        warmup_steps=1,
        validate_steps=0,
        threads=1,
        **TINY,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_pairs_are_disjoint_close_and_speech(voices_dir):
    recs = data_mod.load_recordings([voices_dir])
    sampler = data_mod.PairSampler(recs, max_gap=0.5, seed=0)
    window = int(0.5 * SR)
    batch = sampler.sample(4, window)
    assert batch.first.shape == batch.second.shape == (4, window)
    assert sorted(batch.source.tolist()) == [0, 1, 2, 3]  # distinct files while enough
    for row, src in enumerate(batch.source):
        wav = recs[src].waveform
        a = _find(wav, batch.first[row])
        b = _find(wav, batch.second[row])
        lo, hi = sorted((a, b))
        assert hi >= lo + window  # disjoint
        assert hi - (lo + window) < 0.5 * SR  # gap under max_gap
        # Speech windows only: at most half of each window may fall in the silent second.
        for s in (a, b):
            assert np.mean(np.abs(wav[s : s + window]) > 0) >= 0.5


def _find(wav: np.ndarray, piece: np.ndarray) -> int:
    for s in range(0, len(wav) - len(piece) + 1, data_mod.HOP_SAMPLES):
        if np.array_equal(wav[s : s + len(piece)], piece):
            return s
    raise AssertionError("window not found in its recording")


def test_sampler_state_round_trip(voices_dir):
    recs = data_mod.load_recordings([voices_dir])
    s1 = data_mod.PairSampler(recs, seed=3)
    state = s1.state()
    first = s1.sample(4, 8000).first
    s2 = data_mod.PairSampler(recs, seed=99)
    s2.load_state(state)
    np.testing.assert_array_equal(s2.sample(4, 8000).first, first)


@pytest.mark.parametrize("compress", [True, False])
def test_pack_round_trip(tmp_path, compress):
    x = np.sin(np.linspace(0, 200, 16000)).astype(np.float32) * 0.5
    data_mod.write_pack(tmp_path / "p", [("a/b", x), ("c", x[:100])], compress=compress)
    stored = {f.name for f in (tmp_path / "p").iterdir()}
    assert stored == {"pack.json", "audio.xz" if compress else "audio.raw"}
    items = data_mod.read_pack(tmp_path / "p")
    assert [n for n, _ in items] == ["a/b", "c"]
    assert len(items[1][1]) == 100
    assert np.max(np.abs(items[0][1] - x)) < 0.02  # 8-bit mu-law
    assert data_mod.list_sources([tmp_path]) == [tmp_path / "p"]


def test_nt_xent_masks_same_source_and_queue():
    torch.manual_seed(0)
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    src = torch.tensor([0, 1, 2, 3])
    plain = nt_xent(z1, z2, src)
    # Empty queue slots (source -1) change nothing.
    q = Queue(8, 8)
    assert torch.allclose(nt_xent(z1, z2, src, queue=q.emb, queue_source=q.source), plain)
    # One pair alone has no negatives (loss 0); queue entries of its own recording are no
    # negatives either, those of another recording are.
    one = torch.tensor([0])
    assert nt_xent(z1[:1], z2[:1], one).item() == pytest.approx(0.0, abs=1e-6)
    q.push(torch.randn(3, 8), torch.tensor([0, 0, 0]))
    own = nt_xent(z1[:1], z2[:1], one, queue=q.emb, queue_source=q.source)
    assert own.item() == pytest.approx(0.0, abs=1e-6)
    q.push(torch.randn(1, 8), torch.tensor([5]))
    assert nt_xent(z1[:1], z2[:1], one, queue=q.emb, queue_source=q.source).item() > 0
    # Identical views and orthogonal rows: the loss is the log of the candidate count.
    eye = torch.eye(4, 8)
    loss = nt_xent(eye, eye, src, temperature=1.0)
    expected = -math.log(math.e / (math.e + 6 * 1.0))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert torch.isfinite(barlow_twins(z1, z2))


def test_nt_xent_drop_nearest_leaves_out_the_most_similar_negatives():
    # Three voices, each heard in two recordings: rows 2k and 2k+1 are the same voice (nearly
    # the same direction) in different recordings, so each row's two most similar negatives
    # are the two views of its twin. Leaving those out is the loss the twins would have if
    # they were known to be one recording.
    torch.manual_seed(0)
    voices = torch.eye(3, 16) * 5
    z1 = voices.repeat_interleave(2, dim=0) + 0.1 * torch.randn(6, 16)
    z2 = voices.repeat_interleave(2, dim=0) + 0.1 * torch.randn(6, 16)
    separate = torch.arange(6)
    twins = torch.tensor([0, 0, 1, 1, 2, 2])
    dropped = nt_xent(z1, z2, separate, drop_nearest=2)
    assert torch.allclose(dropped, nt_xent(z1, z2, twins))
    # The twins as negatives make the loss larger; dropping one of them is in between.
    plain = nt_xent(z1, z2, separate)
    one = nt_xent(z1, z2, separate, drop_nearest=1)
    assert plain > one > dropped
    # More to drop than there are negatives leaves the positive alone: loss 0, not NaN.
    assert nt_xent(z1, z2, separate, drop_nearest=50).item() == pytest.approx(0.0, abs=1e-6)


def test_augmenter_shapes_and_seed():
    x = torch.randn(6, 9000) * 0.1
    cfg = AugmentConfig(speed=0.05, p_speed=1.0, p_reverb=1.0, p_noise=1.0)
    noise = [np.random.default_rng(0).standard_normal(40000).astype(np.float32)]
    aug = Augmenter(cfg, noise, [], seed=0, num_simulated_rirs=4, max_rir_samples=800)
    a = aug(x, 8000, torch.Generator().manual_seed(1))
    b = aug(x, 8000, torch.Generator().manual_seed(1))
    assert a.shape == (6, 8000) and torch.equal(a, b) and torch.isfinite(a).all()
    feats = augment_features(torch.randn(6, 50, 24), cfg, torch.Generator().manual_seed(0))
    assert feats.shape == (6, 50, 24)


def test_other_talker_is_another_window_at_the_asked_level():
    # Six rows = two views of three windows (rows i and i + 3 are one window's pair).
    # Each row a sine of its own frequency, so what was added can be read off the spectrum.
    n = 8000
    t = torch.arange(n) / 16000.0
    freqs = [200.0, 300.0, 400.0, 500.0, 600.0, 700.0]
    x = torch.stack([0.1 * torch.sin(2 * math.pi * f * t) for f in freqs])
    cfg = AugmentConfig(p_talker=1.0, talker_db=(10.0, 10.0))
    aug = Augmenter(cfg, [], [], seed=0, num_simulated_rirs=2, max_rir_samples=100)
    for seed in range(20):
        added = aug.talker_mix(x, torch.Generator().manual_seed(seed)) - x
        spectrum = torch.fft.rfft(added).abs()
        for i in range(6):
            # The added sine's bin (frequency f lands on bin f * n / 16000)
            peak = int(spectrum[i].argmax()) * 16000 / n
            assert peak in freqs and peak != freqs[i] and peak != freqs[(i + 3) % 6]
            level = 10 * math.log10(float(added[i].square().mean() / x[i].square().mean()))
            assert level == pytest.approx(-10.0, abs=0.05)
    # p_talker 0 leaves the batch as it is
    off = Augmenter(AugmentConfig(), [], [], seed=0, num_simulated_rirs=2, max_rir_samples=100)
    assert torch.equal(off.talker_mix(x, torch.Generator().manual_seed(0)), x)


def test_telephone_channel_keeps_the_band_and_only_the_drawn_rows():
    # Three sines per row: 100 Hz and 5 kHz lie outside every band the channel draws
    # (200-400 Hz to 3000-3700 Hz), 1 kHz inside; a second of audio = 1-Hz bins.
    n = 16000
    t = torch.arange(n) / 16000.0
    row = sum(0.2 * torch.sin(2 * math.pi * f * t) for f in (100.0, 1000.0, 5000.0))
    x = torch.stack([row] * 4)
    for mulaw in (0.0, 1.0):
        cfg = AugmentConfig(p_telephone=1.0, p_mulaw=mulaw)
        aug = Augmenter(cfg, [], [], seed=0, num_simulated_rirs=2, max_rir_samples=100)
        y = aug.telephone(x, torch.Generator().manual_seed(0))
        spectrum = torch.fft.rfft(y).abs() / (n / 2)  # a sine of amplitude a -> a
        assert torch.all(spectrum[:, 1000] > 0.19) and torch.all(spectrum[:, 1000] < 0.21)
        # mu-law's quantisation noise is spread thin; without it the band edge alone acts
        limit = 0.01 if mulaw else 1e-4
        assert torch.all(spectrum[:, 100] < limit) and torch.all(spectrum[:, 5000] < limit)
    # p_telephone 0.5: the rows not drawn come back unchanged, the drawn ones lose 5 kHz
    aug = Augmenter(AugmentConfig(p_telephone=0.5), [], [], seed=0, num_simulated_rirs=2)
    y = aug.telephone(torch.stack([row] * 64), torch.Generator().manual_seed(3))
    same = torch.all(y == row, dim=1)
    assert 10 < int(same.sum()) < 54
    assert torch.all(torch.fft.rfft(y[~same]).abs()[:, 5000] / (n / 2) < 0.01)
    # off by default: the recipes before it draw the same random numbers as they did
    off = Augmenter(AugmentConfig(), [], [], seed=0, num_simulated_rirs=2)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(off.telephone(x, gen), x)
    fresh = torch.Generator().manual_seed(0)
    assert torch.equal(torch.rand(3, generator=gen), torch.rand(3, generator=fresh))


def test_simulated_rooms_have_the_asked_direct_to_reverberant_ratio():
    from diarize.train.augment import simulated_rirs

    rng = np.random.default_rng(0)
    for lo, hi in [(-5.0, -5.0), (10.0, 10.0), (-5.0, 12.0)]:
        for rir in simulated_rirs(rng, 20, 16000, (lo, hi)):
            # The direct path is the first sample (1); the tail holds the rest of the energy.
            drr = 10 * np.log10(1.0 / np.sum(rir[1:].astype(np.float64) ** 2))
            assert rir[0] == 1.0 and lo - 1e-3 <= drr <= hi + 1e-3


def test_train_two_steps_checkpoint_and_resume(voices_dir, tmp_path):
    out = tmp_path / "enc.pt"
    config = _config(voices_dir, out)
    trainer = Trainer(config)
    losses = [trainer.train_step()["loss"] for _ in range(2)]
    assert all(math.isfinite(v) for v in losses)
    trainer.save()
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    assert ckpt["meta"]["step"] == 2
    state = torch.load(config.state_path(), map_location="cpu", weights_only=True)
    assert state["step"] == 2
    enc = load_encoder(out)
    emb = enc.embed(np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32))
    assert emb.shape == (2, 8)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)

    # Starting over on an existing state is refused; resuming continues at the saved step.
    with pytest.raises(TrainError):
        train(config)
    longer = _config(voices_dir, out, num_steps=3)
    resumed = Trainer(longer)
    resumed.resume()
    assert resumed.step == 2
    for a, b in zip(resumed.model.parameters(), trainer.model.parameters(), strict=True):
        assert torch.equal(a.cpu(), b.cpu())
    train(longer, resume=True)
    assert torch.load(out, weights_only=True)["meta"]["step"] == 3


def test_resume_reproduces_an_uninterrupted_run(voices_dir, tmp_path):
    straight = Trainer(_config(voices_dir, tmp_path / "a.pt", num_steps=3))
    straight.run()
    first = Trainer(_config(voices_dir, tmp_path / "b.pt", num_steps=2))
    first.run()
    second = Trainer(_config(voices_dir, tmp_path / "b.pt", num_steps=3))
    second.resume()
    second.run()
    for a, b in zip(straight.model.parameters(), second.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_pseudo_labels_and_supervised_modes(voices_dir, tmp_path):
    cfg = _config(
        voices_dir,
        tmp_path / "p.pt",
        num_steps=2,
        pseudo_rounds=1,
        pseudo_start_step=1,
        pseudo_min_cluster=2,
        pseudo_batch_size=4,
        pseudo_window_seconds=0.5,
    )
    trainer = Trainer(cfg)
    trainer.run()
    assert trainer.pseudo_round == 1
    lda = Trainer(
        _config(voices_dir, tmp_path / "l.pt", pair_lda=True, pair_lda_pairs=8, pair_lda_dim=4)
    )
    lda.run()
    assert load_encoder(tmp_path / "l.pt").dim == 4
    sup = Trainer(_config(voices_dir, tmp_path / "s.pt", supervised=True))
    assert math.isfinite(sup.train_step()["loss"])
    assert sup.labels_of_recording.tolist() == [0, 1, 2, 3]


def test_cli_train_runs_two_steps(voices_dir, tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text(
        "[train]\nchannels = 16\ndilations = [2]\npool_channels = 16\nembed_dim = 8\n"
        "num_mel_bins = 24\nwarmup_steps = 1\nthreads = 1\nvalidate_steps = 0\n"
        "[train.augment]\np_noise = 0.0\n"
    )
    out = tmp_path / "cli.pt"
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(voices_dir),
            "--out",
            str(out),
            "--config",
            str(toml),
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--window",
            "0.5",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert torch.load(out, weights_only=True)["meta"]["step"] == 2
    again = CliRunner().invoke(main, ["train", str(voices_dir), "--out", str(out), "-q"])
    assert again.exit_code != 0 and "--resume" in again.output


def test_config_layers(tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text("[train]\nbatch_size = 64\n[train.augment]\nspeed = 0.05\n")
    cfg = load_train_config(toml, {"batch_size": 32, "loss": None, "augment.p_speed": 0.5})
    assert cfg.batch_size == 32 and cfg.loss == "ntxent"
    assert cfg.augment.speed == 0.05 and cfg.augment.p_speed == 0.5
    assert TrainConfig(out="models/x.pt").state_path().name == "x.state.pt"


def test_augmentation_options_are_checked(tmp_path):
    toml = tmp_path / "t.toml"
    cases = [
        ("p_talkr = 0.3", "unknown augmentation option"),  # a typo, not a traceback
        ("p_talker = 1.5", "p_talker must be in"),
        ("p_noise = -0.1", "p_noise must be in"),
        ("talker_db = [15.0, 3.0]", "talker_db must be a range"),
        ("snr_db = [0.0, 5.0, 10.0]", "snr_db must be a range"),
        ("telephone_high_hz = [3000.0, 9000.0]", "the telephone band needs"),
        ("telephone_low_hz = [200.0, 3500.0]", "the telephone band needs"),
        ("telephone_low_hz = [-50.0, 300.0]", "the telephone band needs"),
    ]
    for line, message in cases:
        toml.write_text(f"[train]\nnum_steps = 1\n[train.augment]\n{line}\n")
        with pytest.raises(ConfigError, match=message):
            load_train_config(toml, {"data": ("x",)}).check()
    toml.write_text("[train]\n[train.augment]\np_talker = 1.0\ntalker_db = [6.0, 6.0]\n")
    load_train_config(toml, {"data": ("x",)}).check()  # the bounds themselves are allowed


def test_fold_affine_and_half_export(tiny_torch_encoder, tmp_path):
    tiny_encoder = tiny_torch_encoder
    from diarize.train.fold import export_encoder, fold_affine, pair_lda

    x = np.random.default_rng(0).standard_normal((3, SR)).astype(np.float32) * 0.1
    dim = tiny_encoder.dim
    same = fold_affine(tiny_encoder, np.zeros(dim), np.eye(dim))
    np.testing.assert_allclose(same.embed(x), tiny_encoder.embed(x), atol=1e-5)
    rng = np.random.default_rng(1)
    x1 = rng.standard_normal((200, dim))
    x2 = x1 + 0.1 * rng.standard_normal((200, dim))
    mean, v, values = pair_lda(x1, x2, dim=4)
    assert v.shape == (dim, 4) and np.all(np.diff(values) <= 0)
    reduced = fold_affine(tiny_encoder, mean, v)
    assert reduced.embed(x).shape == (3, 4)
    path = export_encoder(reduced, tmp_path / "half.pt")
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["state_dict"]["head.weight"].dtype == torch.float16
    np.testing.assert_allclose(load_encoder(path).embed(x), reduced.embed(x), atol=5e-3)


def test_balanced_sources_get_equal_shares_whatever_their_size():
    """Ten recordings in one source, one in the other: by recordings the lone one gets about
    1/11 of the draws; with one group per source it gets half."""
    rng = np.random.default_rng(0)
    recs = data_mod.make_recordings(
        [(f"r{i}", (0.1 * rng.standard_normal(3 * SR)).astype(np.float32)) for i in range(11)]
    )
    groups = np.array([0] * 10 + [1])
    window = int(0.5 * SR)
    by_rec = data_mod.PairSampler(recs, seed=1).sample(400, window).source
    by_src = data_mod.PairSampler(recs, seed=1, groups=groups).sample(400, window).source
    assert np.mean(by_rec == 10) == pytest.approx(1 / 11, abs=0.05)
    assert np.mean(by_src == 10) == pytest.approx(0.5, abs=0.08)


def test_grouped_loading_labels_each_source(voices_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    x = (0.1 * np.random.default_rng(1).standard_normal(3 * SR)).astype(np.float32)
    sf.write(other / "a.wav", x, SR)
    recs, groups = data_mod.load_grouped_recordings([voices_dir, other])
    assert len(recs) == len(groups) and groups[-1] == 1 and np.all(groups[:-1] == 0)
    with pytest.raises(ConfigError, match="balance"):
        _config(voices_dir, tmp_path / "x.pt", balance="corpora").check()


def test_source_weights_set_each_sources_share():
    """Two sources of one recording each, weighted 3 : 1: the first gets about 3/4 of the
    draws, the second 1/4 (equal shares without weights)."""
    rng = np.random.default_rng(0)
    recs = data_mod.make_recordings(
        [(f"r{i}", (0.1 * rng.standard_normal(3 * SR)).astype(np.float32)) for i in range(2)]
    )
    groups = np.array([0, 1])
    window = int(0.5 * SR)
    sampler = data_mod.PairSampler(recs, seed=1, groups=groups, group_weights=(3.0, 1.0))
    assert np.mean(sampler.sample(800, window).source == 0) == pytest.approx(0.75, abs=0.05)
    with pytest.raises(data_mod.DataError):
        data_mod.PairSampler(recs, groups=groups, group_weights=(1.0,))
    with pytest.raises(data_mod.DataError):
        data_mod.PairSampler(recs, group_weights=(1.0, 1.0))


def test_source_weights_are_checked_against_the_sources(voices_dir, tmp_path):
    one = dict(balance="sources", source_weights=(1.0, 2.0))
    with pytest.raises(ConfigError, match="1 data source"):
        _config(voices_dir, tmp_path / "x.pt", **one).check()
    with pytest.raises(ConfigError, match="balance"):
        _config(voices_dir, tmp_path / "x.pt", source_weights=(1.0,)).check()
    with pytest.raises(ConfigError, match=">= 0"):
        _config(voices_dir, tmp_path / "x.pt", balance="sources", source_weights=(-1.0,)).check()


def test_bn_source_weights_choose_where_the_batch_norm_windows_come_from(voices_dir, tmp_path):
    """Two sources, the second a louder noise: with bn_source_weights (1, 0) every clean
    batch-norm window is from the first source, with (0, 1) from the second, and without
    weights from both."""
    other = tmp_path / "loud"
    other.mkdir()
    rng = np.random.default_rng(5)
    for i in range(2):
        sf.write(other / f"n{i}.wav", (0.5 * rng.standard_normal(4 * SR)).astype(np.float32), SR)

    def levels(**kw):
        cfg = _config(voices_dir, tmp_path / "x.pt", data=(str(voices_dir), str(other)), **kw)
        cfg.check()
        x = torch.cat(list(Trainer(cfg)._clean_batches()))
        return x.std(dim=1).numpy()

    sources = dict(balance="sources", bn_batches=3)
    assert levels(bn_source_weights=(1.0, 0.0), **sources).max() < 0.35
    assert levels(bn_source_weights=(0.0, 1.0), **sources).min() > 0.4
    mixed = levels(**sources)
    assert mixed.min() < 0.35 < 0.4 < mixed.max()
    with pytest.raises(ConfigError, match="bn_source_weights has 1 value"):
        _config(
            voices_dir,
            tmp_path / "x.pt",
            bn_source_weights=(1.0,),
            balance="sources",
            data=(str(voices_dir), str(other)),
        ).check()
    with pytest.raises(ConfigError, match="bn_source_weights needs balance"):
        _config(voices_dir, tmp_path / "x.pt", bn_source_weights=(1.0,)).check()


def test_init_starts_from_a_checkpoints_weights(voices_dir, tmp_path):
    first = Trainer(_config(voices_dir, tmp_path / "a.pt", seed=3))
    first.run()
    saved = load_encoder(tmp_path / "a.pt")
    # Another seed would draw other random weights; init replaces them with the saved ones.
    tuned = Trainer(_config(voices_dir, tmp_path / "b.pt", seed=4, init=str(tmp_path / "a.pt")))
    x = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32)
    tuned.model.eval()
    with torch.no_grad():
        got = torch.nn.functional.normalize(tuned.model(tuned.fbank(torch.from_numpy(x))), dim=1)
    np.testing.assert_allclose(got.numpy(), saved.embed(x), atol=1e-5)
    fresh = Trainer(_config(voices_dir, tmp_path / "c.pt", seed=4))
    fresh.model.eval()
    with torch.no_grad():
        other = torch.nn.functional.normalize(fresh.model(fresh.fbank(torch.from_numpy(x))), dim=1)
    assert not np.allclose(other.numpy(), saved.embed(x), atol=1e-3)
    # Another architecture is refused with the reason.
    with pytest.raises(TrainError, match="architecture"):
        Trainer(_config(voices_dir, tmp_path / "d.pt", init=str(tmp_path / "a.pt"), embed_dim=6))
    with pytest.raises(TrainError, match="not found"):
        Trainer(_config(voices_dir, tmp_path / "e.pt", init=str(tmp_path / "missing.pt")))
