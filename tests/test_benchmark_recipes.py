"""The recipe sweep's variants are valid training configurations of the shipped recipe."""

import pytest

pytest.importorskip("torch")  # the training configuration lives with the training code

from benchmarks.encoder.recipe_sweep import RECIPE, RUNS, recipe_of  # noqa: E402
from diarize.train.loop import load_train_config  # noqa: E402


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_variant_loads_on_top_of_its_recipe(name):
    recipe, data, run = recipe_of(name)
    assert recipe.is_file() and recipe.parent == RECIPE.parent
    assert data == (("ls-train",) if recipe == RECIPE else ("ls-train", "so762-train", "picovoice"))
    config = load_train_config(recipe, {"data": data, **run})
    shipped = load_train_config(recipe, {"data": data})
    for key, value in run.items():
        if key.startswith("augment."):
            assert getattr(config.augment, key.split(".", 1)[1]) == value
        else:
            assert getattr(config, key) == value
    # Everything the variant does not name stays as the shipped recipe has it.
    assert config.temperature == shipped.temperature
    assert config.augment.speed == shipped.augment.speed == 0.05


def test_an_unknown_key_in_a_variant_is_refused():
    with pytest.raises(Exception, match="batchsize"):
        load_train_config(RECIPE, {"data": ("x",), "batchsize": 256})


def _recordings(tmp_path, n):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(n):
        (data / f"rec{i:02d}.flac").write_bytes(b"x")
    return sorted(data.iterdir())


def test_heldout_split_is_a_partition_that_depends_only_on_seed(tmp_path):
    from benchmarks.encoder.heldout_split import split

    files = _recordings(tmp_path, 20)
    train, held = split(files, 5, seed=3)
    assert len(held) == 5 and len(train) == 15
    assert sorted(train + held) == files
    assert not set(train) & set(held)
    # Order of the input does not matter; another seed draws another held-out set.
    assert split(list(reversed(files)), 5, seed=3) == (train, held)
    assert split(files, 5, seed=4)[1] != held
    with pytest.raises(ValueError):
        split(files, 20, seed=3)


def test_heldout_split_writes_links_and_lists_and_refuses_to_mix_splits(tmp_path):
    from benchmarks.encoder.heldout_split import main

    files = _recordings(tmp_path, 6)
    out = tmp_path / "split"
    assert main([str(tmp_path / "data"), str(out), "--held", "2"]) == 0
    held = (out / "held.lst").read_text().splitlines()
    assert len(held) == 2
    assert sorted(p.name for p in (out / "held").iterdir()) == sorted(
        p.rsplit("/", 1)[1] for p in held
    )
    assert len(list((out / "train").iterdir())) == 4
    assert all((out / "train" / f.name).exists() != (out / "held" / f.name).exists() for f in files)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "data"), str(out), "--held", "2", "--seed", "1"])


def test_heldout_split_by_speaker_keeps_every_speaker_on_one_side():
    from pathlib import Path

    from benchmarks.encoder.heldout_split import split_speakers

    files = [Path(f"SPEAKER{s:04d}_{u}.opus") for s in range(10) for u in range(3)]
    train, held = split_speakers(files, 4, seed=7)
    spk = lambda ps: {p.name.split("_")[0] for p in ps}  # noqa: E731
    assert len(spk(held)) == 4 and not spk(held) & spk(train)
    assert len(train) + len(held) == 30 and len(held) == 12
    assert split_speakers(list(reversed(files)), 4, seed=7) == (train, held)


def test_the_shipped_encoders_recipe_file_is_the_sweep_run_it_came_from():
    """benchmarks/encoder/v5.toml (the CPU command of the model card) trains what the GPU
    sweep's all-ft-k3 trained: the same settings but for how often a checkpoint is saved."""
    recipe, data, run = recipe_of("all-ft-k3")
    swept = load_train_config(recipe, {"data": data, **run}).to_dict()
    shipped = load_train_config(RECIPE.with_name("v5.toml"), {"data": data}).to_dict()
    differ = {k for k in swept if swept[k] != shipped[k]}
    assert differ == {"checkpoint_minutes"}


def test_a_soup_is_the_mean_of_the_float_tensors_and_keeps_the_counters_of_the_first():
    import torch

    from benchmarks.encoder.soup import average_state

    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(7)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(9)}
    c = {"w": torch.tensor([2.0, 1.0]), "n": torch.tensor(1)}
    soup = average_state([a, b, c])
    assert torch.equal(soup["w"], torch.tensor([2.0, 3.0]))
    assert soup["n"].item() == 7
    half = average_state([{"w": torch.tensor([1.0], dtype=torch.float16)}] * 2)
    assert half["w"].dtype == torch.float16
    with pytest.raises(ValueError, match="different tensors"):
        average_state([a, {"w": a["w"]}])


def test_a_weighted_soup_lies_on_the_line_between_two_checkpoints():
    import torch

    from benchmarks.encoder.soup import average_state

    start = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(3)}
    tuned = {"w": torch.tensor([8.0, 0.0]), "n": torch.tensor(5)}
    # a quarter of the way from the start to the fine-tune: 0.75 * start + 0.25 * tuned
    quarter = average_state([start, tuned], [3.0, 1.0])
    assert torch.allclose(quarter["w"], torch.tensor([2.0, 3.0]))
    assert quarter["n"].item() == 3
    assert torch.equal(average_state([start, tuned], [0.0, 1.0])["w"], tuned["w"])
    with pytest.raises(ValueError, match="2 checkpoint"):
        average_state([start, tuned], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        average_state([start, tuned], [1.0, -1.0])
