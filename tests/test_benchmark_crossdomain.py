"""The cross-domain benchmark's draws: a second draw never reuses the benchmark's or the
tuning set's conversations."""

import pytest

from benchmarks import crossdomain as cd


def test_a_seed_changes_the_draw_and_nothing_else():
    own, other = cd.simulation("so762"), cd.simulation("so762", 202)
    assert own.seed == 0 and other.seed == 202
    assert own.speaker_counts == other.speaker_counts
    assert (own.rt60, own.snr_db, own.overlap) == (other.rt60, other.snr_db, other.overlap)


@pytest.mark.parametrize(("seed", "message"), [(cd.SEED_TUNING, "tuning set"), (-1, "0 or more")])
def test_the_tuning_sets_seed_and_negative_seeds_are_refused(capsys, seed, message):
    with pytest.raises(SystemExit) as exc:
        cd.main(["--seed", str(seed), "--variants", "shipped"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_other_draws_live_in_folders_of_their_own(monkeypatch, tmp_path):
    made = []

    def fake(name, config, source, log):
        made.append((name, config.seed))
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        return folder

    monkeypatch.setattr(cd, "synthetic_set", fake)
    monkeypatch.setattr(cd, "held_out_speakers", lambda log: tmp_path / "held")
    monkeypatch.setattr(cd, "TESTOTHER", tmp_path)
    monkeypatch.setattr(cd, "load_set", lambda folder: [])
    monkeypatch.setattr(cd, "_describe", lambda folder, voices: voices)
    cd.domain_sets(["so762", "testother"], print)
    _, notes = cd.domain_sets(["so762", "testother"], print, seed=7)
    assert made == [("so762", 0), ("testother", 0), ("so762-seed7", 7), ("testother-seed7", 7)]
    assert all(note.endswith("seed 7") for note in notes.values())
