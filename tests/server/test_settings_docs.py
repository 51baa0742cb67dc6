"""Every setting is documented in docs/configuration.md's table, under its env name."""

from __future__ import annotations

import re
from pathlib import Path

from server.settings import Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def _table_names() -> set[str]:
    # The settings table: from "# Configuration" to the next heading.
    section = re.split(r"\n#{2,3} ", DOC.split("# Configuration\n", 1)[1], maxsplit=1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, re.MULTILINE))


def test_every_settings_field_has_a_row_in_the_configuration_table() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - _table_names() == set()


def test_the_configuration_table_lists_no_setting_that_does_not_exist() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert _table_names() - fields == set()
