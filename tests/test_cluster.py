import numpy as np
import pytest

from diarize.cluster import ahc, cluster, join_nearest, relabel
from diarize.config import ClusterConfig


def _blobs(sizes, dim=16, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.linalg.qr(rng.standard_normal((dim, dim)))[0][: len(sizes)]
    x = np.concatenate(
        [c + spread * rng.standard_normal((n, dim)) for c, n in zip(centers, sizes, strict=True)]
    )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return x.astype(np.float32), truth


def _same_partition(a, b):
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_threshold_finds_orthogonal_clusters():
    x, truth = _blobs([20, 30, 10])
    labels = cluster(x, ClusterConfig(), threshold=0.5)
    assert _same_partition(labels, truth)


def test_exact_count_is_honoured_both_ways():
    x, _ = _blobs([20, 30, 10])
    for k in (1, 2, 3, 5):
        labels = cluster(x, ClusterConfig(num_speakers=k), threshold=0.5)
        assert len(np.unique(labels)) == k


def test_min_max_bounds_clamp_the_threshold_count():
    x, _ = _blobs([20, 30, 10])
    assert len(np.unique(cluster(x, ClusterConfig(max_speakers=2), 0.5))) == 2
    assert len(np.unique(cluster(x, ClusterConfig(min_speakers=4), 0.5))) == 4
    assert len(np.unique(cluster(x, ClusterConfig(min_speakers=2, max_speakers=6), 0.5))) == 3


def test_min_above_max_is_an_error():
    x, _ = _blobs([5, 5])
    with pytest.raises(ValueError, match="larger"):
        cluster(x, ClusterConfig(min_speakers=3, max_speakers=2), 0.5)


def test_subsampled_path_for_many_windows():
    x, truth = _blobs([300, 500, 200])
    labels = cluster(x, ClusterConfig(max_exact=100), threshold=0.5)
    assert _same_partition(labels, truth)
    labels = cluster(x, ClusterConfig(max_exact=100, num_speakers=3), threshold=0.5)
    assert len(np.unique(labels)) == 3


def test_ties_still_give_exact_count():
    sim = np.ones((4, 4))  # every merge at the same height
    assert len(np.unique(ahc(sim, 0.5, num_clusters=3))) == 3


def test_relabel_first_appearance():
    assert relabel(np.array([7, 7, 3, 9, 3])).tolist() == [0, 0, 1, 2, 1]


def test_single_and_empty():
    assert cluster(np.zeros((0, 4), np.float32), ClusterConfig(), 0.5).shape == (0,)
    assert cluster(np.ones((1, 4), np.float32), ClusterConfig(), 0.5).tolist() == [0]


def test_small_outlier_clusters_do_not_count_as_speakers():
    x, truth = _blobs([40, 40])
    rng = np.random.default_rng(5)
    # Two windows pointing away from both speakers (cosine about -0.7 to each).
    away = -(x[0] + x[-1])
    outliers = away + 0.05 * rng.standard_normal((2, x.shape[1]))
    outliers = (outliers / np.linalg.norm(outliers, axis=1, keepdims=True)).astype(np.float32)
    y = np.concatenate([x, outliers])
    plain = cluster(y, ClusterConfig(num_speakers=2, min_cluster_fraction=0.0), threshold=0.5)
    robust = cluster(y, ClusterConfig(num_speakers=2, min_cluster_fraction=0.1), threshold=0.5)
    # Plain AHC spends a cluster on the outliers; the robust cut finds both speakers.
    assert not _same_partition(plain[:80], truth)
    assert _same_partition(robust[:80], truth)
    thr = cluster(y, ClusterConfig(min_cluster_fraction=0.1), threshold=0.5)
    assert len(np.unique(thr)) == 2


def test_centering_removes_a_shared_offset():
    from diarize.cluster import center

    x, truth = _blobs([30, 30])
    shifted = x + 3.0 * np.ones(x.shape[1], dtype=np.float32)  # one channel for all
    shifted /= np.linalg.norm(shifted, axis=1, keepdims=True)
    assert (shifted @ shifted.T).min() > 0.9  # everything looks alike ...
    c = center(shifted)
    assert _same_partition(cluster(c, ClusterConfig(), threshold=0.0), truth)  # ... until centred


@pytest.mark.parametrize("sizes", [[80], [60, 40], [50, 30, 20], [40, 40, 30, 20, 12]])
def test_eigengap_counts_well_separated_speakers(sizes):
    from diarize.cluster import eigengap_count

    x, _ = _blobs(sizes, spread=0.3)
    assert eigengap_count(x) == len(sizes)


def test_eigengap_clusters_without_any_threshold():
    x, truth = _blobs([30, 50, 20], spread=0.15)
    # A threshold that alone would merge everything: the eigengap count ignores it.
    assert len(np.unique(cluster(x, ClusterConfig(), threshold=-1.0))) == 1
    labels = cluster(x, ClusterConfig(count="eigengap"), threshold=-1.0)
    assert _same_partition(labels, truth)


def test_eigengap_count_respects_bounds_and_exact_count():
    x, _ = _blobs([30, 50, 20], spread=0.3)
    assert len(np.unique(cluster(x, ClusterConfig(count="eigengap", max_speakers=2), 0.5))) == 2
    assert len(np.unique(cluster(x, ClusterConfig(count="eigengap", min_speakers=5), 0.5))) == 5
    assert len(np.unique(cluster(x, ClusterConfig(count="eigengap", num_speakers=4), 0.5))) == 4


def test_unknown_count_method_is_an_error():
    x, _ = _blobs([5, 5])
    with pytest.raises(ValueError, match="count method"):
        cluster(x, ClusterConfig(count="guess"), 0.5)


def split_speaker_similarity() -> np.ndarray:
    """24 windows: speaker A (12) and a speaker B whose two halves B1, B2 (6 each) are each
    made of two triples. Average-linkage merges: inside the triples at 0.9, the triples of
    B1 and of B2 at 0.575, B1 with B2 at 0.555, A with B at 0.1."""
    groups = [0] * 12 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3
    between = {(1, 2): 0.575, (3, 4): 0.575}
    sim = np.full((24, 24), 0.1)
    for i, gi in enumerate(groups):
        for j, gj in enumerate(groups):
            if gi == gj:
                sim[i, j] = 0.9
            elif gi > 0 and gj > 0:
                sim[i, j] = between.get((min(gi, gj), max(gi, gj)), 0.555)
    return sim


def test_speaker_count_pools_a_neighbourhood_of_thresholds():
    sim = split_speaker_similarity()
    # Large clusters (>= 6 members) by threshold: <= 0.555: A, B -> 2; 0.56-0.575: A, B1, B2
    # -> 3; above: A and four triples too small to count -> 1. At 0.56 alone: 3 speakers.
    alone = ahc(sim, 0.56, min_size=6)
    assert len(set(alone.tolist())) == 3
    # Over 0.51, 0.52, ..., 0.61 the counts are 2 x5, 3 x2, 1 x4: median 2 -> A and B.
    pooled = ahc(sim, 0.56, min_size=6, spread=0.05)
    assert pooled.tolist() == [0] * 12 + [1] * 12
    # A count given explicitly is not pooled.
    assert len(set(ahc(sim, 0.56, num_clusters=3, min_size=6, spread=0.05).tolist())) == 3


@pytest.mark.parametrize("kwargs", [{}, {"min_size": 12, "spread": 0.05}, {"num_clusters": 4}])
def test_blockwise_ahc_equals_the_square_matrix_one(kwargs, monkeypatch):
    import diarize.cluster as C

    x, _ = _blobs([40, 25, 30, 5, 3], spread=0.4, seed=3)
    monkeypatch.setattr(C, "BLOCK_ROWS", 7)  # many blocks, one of them ragged
    square = ahc(C.cosine_similarity(x), 0.5, **kwargs)
    blocks = C.ahc_embeddings(x, C.cosine_similarity, 0.5, **kwargs)
    assert square.tolist() == blocks.tolist()


def test_condensed_distance_is_scipys_layout(monkeypatch):
    from scipy.spatial.distance import squareform

    import diarize.cluster as C

    x, _ = _blobs([6, 5], spread=0.3)
    monkeypatch.setattr(C, "BLOCK_ROWS", 4)
    condensed, offset = C.condensed_distance(x, C.cosine_similarity)
    square = C.cosine_similarity(x)
    assert offset == pytest.approx(square.max())
    expected = offset - square
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(squareform(condensed), expected, atol=1e-6)


# --- counts that do not hang on a learned threshold --------------------------------------------


def test_nme_sc_finds_well_separated_speakers_and_honours_an_exact_count():
    from diarize.cluster import nme_sc

    x, truth = _blobs([40, 30, 20])
    labels = nme_sc(x, max_count=8)
    assert _same_partition(labels, truth)
    assert len(set(nme_sc(x, max_count=8, num_clusters=2).tolist())) == 2
    # A cap below the true count caps it.
    assert len(set(nme_sc(x, max_count=2).tolist())) == 2


def test_nme_sc_is_blind_to_a_shift_of_every_similarity():
    """Adding a shared offset to every embedding raises every cosine similarity (as a narrow
    band does); NME-SC looks only at each window's neighbour ranking, so it keeps the count."""
    from diarize.cluster import nme_sc

    x, truth = _blobs([30, 30], spread=0.05)
    offset = np.ones(x.shape[1], dtype=np.float32) * 0.6
    shifted = x + offset
    shifted /= np.linalg.norm(shifted, axis=1, keepdims=True)
    assert _same_partition(nme_sc(shifted), truth)


def test_neighbour_level_by_hand():
    """Three windows of one direction and one orthogonal window: with one neighbour each
    (share small, k = 3 at least, so every other window counts) the level is the mean of
    the hand-computed similarities."""
    from diarize.cluster import neighbour_level

    x = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)
    # Rows 0-2: neighbours are the two identical windows (1, 1) and the orthogonal one (0):
    # mean 2/3; row 3: all three neighbours orthogonal: 0. Mean over rows: (3 * 2/3) / 4.
    assert neighbour_level(x, share=0.05) == pytest.approx(0.5)
    # Windows closer than min_gap seconds are not neighbours: windows 0 and 1 overlap in
    # time, so row 0 sees windows 2 and 3 only... with k = 3 no row has three neighbours
    # left, so rows with too few are left out and rows 2 and 3 remain.
    centres = np.array([0.0, 0.5, 10.0, 20.0])
    level = neighbour_level(x, share=0.05, centres=centres, min_gap=1.5)
    # Row 2: neighbours 0, 1 (1, 1) and 3 (0) -> 2/3; row 3: 0, 0, 0 -> 0.
    assert level == pytest.approx(1 / 3)


def test_scaled_threshold_follows_the_recordings_own_similarities():
    """Shifting every similarity (a shared component added to all embeddings, as a narrow
    band does) moves the scaled threshold with it, so the two speakers stay apart, where the
    fixed threshold that separated them before the shift merges them after it. (Gaussian
    blobs in 16 dimensions have a larger ratio of within-speaker to nearest-neighbour
    distance than real embeddings, hence a larger scale than the default.)"""
    x, truth = _blobs([40, 40], spread=0.1, seed=3)
    shared = np.zeros(x.shape[1], dtype=np.float32)
    shared[-1] = 2.0
    y = x + shared
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    fixed = ClusterConfig(min_cluster_fraction=0.0, count_spread=0.0)
    assert _same_partition(cluster(x, fixed, 0.5), truth)
    assert len(set(cluster(y, fixed, 0.5).tolist())) == 1
    scaled = ClusterConfig(count="scaled", scale=6.0, min_cluster_fraction=0.0, count_spread=0.0)
    assert _same_partition(cluster(x, scaled, 0.5), truth)
    assert _same_partition(cluster(y, scaled, 0.5), truth)


def test_kmeans_by_hand():
    from diarize.cluster import kmeans

    x = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [5.0, 5.2]])
    labels = kmeans(x, 2, seed=3)
    assert len(set(labels[:3].tolist())) == 1 and len(set(labels[3:].tolist())) == 1
    assert labels[0] != labels[3]
    assert np.array_equal(kmeans(x, 2, seed=3), labels)


def test_auto_count_is_vbx_with_a_plda_and_the_threshold_rule_without():
    from diarize.backend import PLDA

    emb, truth = _blobs([30, 30])
    config = ClusterConfig()
    assert config.count == "auto"
    # A stopping threshold that merges everything: the threshold rule gives one speaker...
    merged = cluster(emb, config, -1.0)
    np.testing.assert_array_equal(merged, cluster(emb, ClusterConfig(count="threshold"), -1.0))
    assert merged.max() == 0
    # ... VBx (started from the scaled rule, which ignores it) finds the two.
    dim = emb.shape[1]
    plda = PLDA(
        mean=np.zeros(dim), whiten=np.eye(dim), transform=np.eye(dim), psi=np.full(dim, 4.0)
    )
    found = cluster(emb, config, -1.0, plda=plda)
    np.testing.assert_array_equal(found, cluster(emb, ClusterConfig(count="vbx"), -1.0, plda=plda))
    assert _same_partition(found, truth)


def test_vbx_start_floor_raises_only_a_start_below_it(monkeypatch):
    from diarize import cluster as cluster_module
    from diarize.backend import PLDA

    emb, _ = _blobs([10, 10])
    dim = emb.shape[1]
    plda = PLDA(
        mean=np.zeros(dim), whiten=np.eye(dim), transform=np.eye(dim), psi=np.full(dim, 4.0)
    )
    starts = []

    def record(embeddings, config, similarity, threshold, *args, **kwargs):
        starts.append(threshold)
        return np.zeros(len(embeddings), dtype=np.int64)

    monkeypatch.setattr(cluster_module, "_ahc_all", record)
    cos = cluster_module.cosine_similarity
    for floor, threshold, start in ((None, 0.1, 0.2), (0.45, 0.1, 0.45), (0.45, 0.5, 0.6)):
        config = ClusterConfig(count="vbx", vbx_init=0.1, vbx_start_floor=floor)
        starts.clear()
        cluster_module._vbx_all(emb, config, threshold, cos, plda, None, None)
        assert starts == [pytest.approx(start)]


def test_vbx_starts_from_at_least_vbx_min_start_clusters():
    from diarize import cluster as cluster_module
    from diarize.backend import PLDA

    # Two tight groups of 10 around orthogonal directions: a start threshold of
    # -1 merges everything, and VBx cannot split the one cluster it is given...
    rng = np.random.default_rng(0)
    base = np.eye(8)[:2]
    emb = np.concatenate(
        [
            base[0] + 0.05 * rng.standard_normal((10, 8)),
            base[1] + 0.05 * rng.standard_normal((10, 8)),
        ]
    )
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    plda = PLDA(mean=np.zeros(8), whiten=np.eye(8), transform=np.eye(8), psi=np.full(8, 4.0))
    cos = cluster_module.cosine_similarity
    alone = ClusterConfig(vbx_init=0.0, vbx_min_start=1)
    one = cluster_module._vbx_all(emb, alone, -1.0, cos, plda, None, None)
    assert one.max() == 0
    # ... started from the AHC tree cut at two clusters it finds the two groups
    config = ClusterConfig(vbx_init=0.0, vbx_min_start=2)
    two = cluster_module._vbx_all(emb, config, -1.0, cos, plda, None, None)
    assert _same_partition(two, np.repeat([0, 1], 10))
    # more than there are windows: every window its own start, no error
    few = cluster_module._vbx_all(
        emb[:3], ClusterConfig(vbx_min_start=5), -1.0, cos, plda, None, None
    )
    assert len(few) == 3
    # started from three clusters (the default), one tight group is merged back into one
    group = emb[:10]
    merged = cluster_module._vbx_all(
        group, ClusterConfig(vbx_init=0.0), -1.0, cos, plda, None, None
    )
    assert ClusterConfig().vbx_min_start == 3 and merged.max() == 0


def test_left_out_windows_join_the_nearest_cluster_and_the_others_keep_theirs():
    # Clusters 0 (around +x) and 1 (around +y) from the first four windows; the fifth leans
    # to y, the sixth to x. The clustered windows keep their labels even where the other
    # centroid would be nearer (the fourth, labelled 0 although it points along y).
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.2, 1], [0.3, 0.9], [0.8, -0.1]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    clustered = np.array([True, True, True, True, False, False])
    labels = np.array([0, 0, 1, 0])
    assert join_nearest(x, clustered, labels).tolist() == [0, 0, 1, 0, 1, 0]
    assert join_nearest(x[:4], clustered[:4], labels).tolist() == labels.tolist()
