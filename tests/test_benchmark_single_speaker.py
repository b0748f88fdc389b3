"""The one-voice benchmark's measure, on turns worked out by hand."""

import numpy as np
import pytest

from benchmarks import single_speaker
from diarize.types import Turn


def test_split_share_is_the_speech_not_given_to_the_largest_speaker():
    turns = [Turn(0.0, 6.0, "A"), Turn(6.0, 8.0, "B"), Turn(8.0, 10.0, "A")]
    # A holds 8 of the 10 s
    assert single_speaker.split_share(turns) == pytest.approx(0.2)
    assert single_speaker.split_share([Turn(1.0, 3.0, "A")]) == 0.0
    assert single_speaker.split_share([]) == 0.0
    # three speakers: 5 + 3 + 2 s, the largest holds half
    three = [Turn(0.0, 5.0, "A"), Turn(5.0, 8.0, "B"), Turn(8.0, 10.0, "C")]
    assert single_speaker.split_share(three) == pytest.approx(0.5)


def test_the_telephone_channel_keeps_the_length_at_16_khz():
    from benchmarks.crossdomain import telephone_at_16k

    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    y = telephone_at_16k(x)
    assert y.dtype == np.float32 and abs(len(y) - len(x)) <= 2


def test_count_cells():
    rows = [(1, 0.0), (2, 0.25), (3, 0.5), (1, 0.05)]
    assert single_speaker.count_cells(rows) == "2 / 4 | 1.75 | 20.0 %"
