"""The recipe sweep's variants are valid training configurations of the shipped recipe."""

import pytest

from benchmarks.encoder.recipe_sweep import RECIPE, RUNS
from diarize.train.loop import load_train_config


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_variant_loads_on_top_of_the_shipped_recipe(name):
    config = load_train_config(RECIPE, {"data": ("x",), **RUNS[name]})
    shipped = load_train_config(RECIPE, {"data": ("x",)})
    for key, value in RUNS[name].items():
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
