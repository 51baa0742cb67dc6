"""Every setting is documented in the README's configuration table, under its env name."""

from __future__ import annotations

import re
from pathlib import Path

from server.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _table_names() -> set[str]:
    # The settings table: from "## Configuration" to the next heading of any level.
    section = re.split(r"\n#{2,3} ", README.split("\n## Configuration", 1)[1], maxsplit=1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, re.MULTILINE))


def test_every_settings_field_has_a_row_in_the_readme_configuration_table() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - _table_names() == set()


def test_the_configuration_table_lists_no_setting_that_does_not_exist() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert _table_names() - fields == set()
