"""The catalogue's units: each instrument's lot in gross and fine micrograms (the fine content is a routable
product's unit), and configuration errors that name the key when a unit cannot be exact."""
from __future__ import annotations

import pytest

from router.config import build_config, embedded_defaults
from router.domain.errors import ConfigError


def catalogue(patch=None, product=None):
    tree = embedded_defaults()
    for symbol, fields in (patch or {}).items():
        tree["instruments"][symbol].update(fields)
    for pid, fields in (product or {}).items():
        tree["products"][pid].update(fields)
    return build_config(tree, sections=False).catalogue


def test_each_lot_in_gross_and_fine_micrograms():
    lots = {s: (i.lot_micrograms, i.lot_fine_micrograms) for s, i in catalogue().instruments.items()}
    assert lots["SGE.AU9999"] == (10_000_000, 9_999_000)                  # 10 g at 0.9999
    assert lots["HKGX.RKG"] == (1_000_000_000, 999_900_000)               # 1 kg at 0.9999
    assert lots["HKGX.AU99TAEL"] == (3_742_900_000, 3_705_471_000)        # 100 taels of 37.429 g at 0.990
    assert lots["HKGX.LLG"] == (3_110_347_680, 3_110_347_680)             # already fine ounces
    assert lots["SGE.AUTD"] == (1_000_000_000, 999_500_000)               # 1 kg at 0.9995


def test_products_are_in_fine_grams():
    cat = catalogue()
    assert {p.qty_unit for p in cat.products.values()} == {"gram_fine"}
    with pytest.raises(ConfigError) as info:
        catalogue(product={"GOLD.KG9999": {"qty_unit": "gram"}})
    assert info.value.key == "products.GOLD.KG9999.qty_unit"


def test_a_fine_content_that_is_not_whole_micrograms_names_the_key():
    with pytest.raises(ConfigError) as info:
        catalogue({"SGE.AU9999": {"fineness": "0.99999999"}})
    assert info.value.key == "instruments.SGE.AU9999.fineness"
    assert "whole number of fine micrograms" in str(info.value)
