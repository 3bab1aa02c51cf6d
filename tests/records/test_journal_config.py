"""The `[journal]` table: defaults, and a bad value names its key."""
from __future__ import annotations

import pytest

from router.domain.errors import ConfigError
from router.records.journal_config import JournalConfig, parse_journal_config


def test_defaults_keep_the_journal_beside_the_fix_store_without_fsync() -> None:
    assert parse_journal_config({}) == JournalConfig("var/journal", "file", "none", False)
    assert parse_journal_config({"fsync": "batch", "cancel_on_shutdown": True}).fsync == "batch"


@pytest.mark.parametrize("raw, key", [({"fsync": "always"}, "journal.fsync"), ({"store": "disk"}, "journal.store"),
                                      ({"dir": ""}, "journal.dir"), ({"cancel_on_shutdown": "yes"},
                                                                      "journal.cancel_on_shutdown"),
                                      ({"fsnc": "none"}, "journal.fsnc")])
def test_a_bad_value_names_its_key(raw, key) -> None:
    with pytest.raises(ConfigError) as err:
        parse_journal_config(raw)
    assert err.value.key == key
