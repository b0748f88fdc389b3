import numpy as np

from diarize.config import EmbedConfig
from diarize.embed import extract, window_bounds


def test_long_region_is_tiled_and_tail_covered():
    b = window_bounds(np.array([[0, 100]]), 30, 20, 10)
    # starts 0, 20, 40, 60 (60+30=90 < 100) then one window ending at 100.
    assert b.tolist() == [[0, 30], [20, 50], [40, 70], [60, 90], [70, 100]]


def test_exact_fit_adds_no_extra_window():
    b = window_bounds(np.array([[10, 70]]), 30, 30, 10)
    assert b.tolist() == [[10, 40], [40, 70]]


def test_short_and_tiny_regions():
    b = window_bounds(np.array([[0, 20], [100, 105]]), 30, 10, 10)
    assert b.tolist() == [[0, 20]]  # 20 >= min: own window; 5 < min: none


def test_no_regions():
    b = window_bounds(np.zeros((0, 2), dtype=np.int64), 30, 10, 10)
    assert b.shape == (0, 2) and b.dtype == np.int64


def test_extract_shapes_and_norms(tiny_encoder, two_voices):
    x, _ = two_voices
    regions = np.array([[0, 48000], [56000, 100000]])
    bounds, emb = extract(x, regions, tiny_encoder, EmbedConfig())
    assert bounds.shape[0] == emb.shape[0] > 0
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert (bounds[:, 0] >= 0).all() and (bounds[:, 1] <= len(x)).all()


def test_shared_trunk_matches_window_by_window(tiny_encoder, two_voices):
    x, turns = two_voices
    regions = np.array([[round(s * 16000), round(e * 16000)] for s, e, _ in turns])
    from diarize.embed import window_bounds

    bounds = window_bounds(regions, 24000, 4000, 6400)
    fast = tiny_encoder.embed_windows(x, bounds, chunk=5.0)
    slow = np.concatenate([tiny_encoder.embed(x[s:e][None]) for s, e in bounds])
    # Within one voice, the shared trunk (sliding mean over speech frames, context at the
    # window edges) gives what window-by-window extraction gives.
    assert (fast * slow).sum(axis=1).min() > 0.98


def test_chunked_speech_detection_matches_one_pass(monkeypatch):
    import diarize.embed as embed_module
    from diarize.config import VADConfig
    from diarize.embed import speech_regions

    def frame_detector(waveform, config, sample_rate):
        """Speech = 10 ms frames with |x| > 0.1: a detector whose answer is obvious."""
        hop = sample_rate // 100
        n = len(waveform) // hop
        active = np.abs(waveform[: n * hop]).reshape(n, hop).max(axis=1) > 0.1
        edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(int), [0]])))
        return (edges.reshape(-1, 2) * hop).astype(np.int64)

    monkeypatch.setattr(embed_module, "detect_speech", frame_detector)
    x = np.zeros(40 * 16000, dtype=np.float32)
    truth = [(16000, 64000), (108800, 112000), (200000, 400000), (500000, 600000)]
    for start, end in truth:
        x[start:end] = 0.5
    # Chunks of 7 s cut through the region [200000, 400000); stitching must rejoin it.
    chunked = speech_regions(x, VADConfig(), 16000, chunk=7.0, context=1.0)
    assert chunked.tolist() == [list(r) for r in truth]
    assert chunked.dtype == np.int64


def test_speech_regions_pieces_follow_the_vad_chunk(monkeypatch):
    import diarize.embed as embed_module
    from diarize.config import VADConfig
    from diarize.embed import speech_regions

    pieces = []

    def spy(waveform, config, sample_rate):
        pieces.append(len(waveform) / sample_rate)
        return np.zeros((0, 2), dtype=np.int64)

    monkeypatch.setattr(embed_module, "detect_speech", spy)
    x = np.zeros(40 * 16000, dtype=np.int16)
    speech_regions(x, VADConfig(chunk=10.0), 16000)
    # 10 s pieces with 5 s of context on each side (less at the ends of the recording).
    assert pieces == [15.0, 20.0, 20.0, 15.0]
    pieces.clear()
    speech_regions(x, VADConfig(), 16000)  # the default 300 s: one pass
    assert pieces == [40.0]


def test_chunked_embedding_does_not_depend_on_chunk_size(tiny_encoder, two_voices):
    from diarize.audio import to_pcm16
    from diarize.embed import embed_chunked

    x, _ = two_voices
    starts = np.arange(0, len(x) - 24000, 8000)
    bounds = np.stack([starts, starts + 24000], axis=1)
    small = embed_chunked(x, bounds, tiny_encoder, EmbedConfig(chunk=2.0))
    large = embed_chunked(x, bounds, tiny_encoder, EmbedConfig(chunk=600.0))
    np.testing.assert_allclose(small, large, atol=1e-4)
    pcm = embed_chunked(to_pcm16(x), bounds, tiny_encoder, EmbedConfig(chunk=2.0))
    assert (pcm * large).sum(axis=1).min() > 0.999


def test_mfcc_frames_grid_and_chunking():
    from diarize.features import Mfcc

    mfcc = Mfcc()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(16000 * 3 + 77) * 3000).astype(np.int16)
    whole = mfcc.frames(x)
    assert whole.shape == (-(-len(x) // 160), 20)
    # Chunked reading changes nothing.
    assert np.allclose(mfcc.frames(x, chunk_seconds=0.7), whole, atol=1e-4)
    # Frame t is the 25 ms frame centred on the middle of samples [160 t, 160 t + 160).
    t = 100
    piece = x[t * 160 - 120 : t * 160 + 280].astype(np.float32) / 32768.0
    direct = mfcc(piece[None])[0, 0]
    assert np.allclose(direct, whole[t], atol=1e-4)
