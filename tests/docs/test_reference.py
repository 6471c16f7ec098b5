"""The documentation generated from the code (elshi.docs) must be current: the CLI reference,
the configuration reference and the campaign format."""

from __future__ import annotations

import pytest

from elshi.docs import GENERATED, REGENERATE
from tests.conftest import ROOT


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_document_matches_the_code(name: str) -> None:
    path = ROOT / name
    assert path.read_text(encoding="utf-8") == GENERATED[name](), (
        f"{name} is out of date: run {REGENERATE}"
    )


def test_reference_documents_every_field_of_a_post() -> None:
    from campaigns.definition import PostSpec
    from campaigns.reference import render

    text = render()
    for name, field in PostSpec.model_fields.items():
        assert f"| `{field.alias or name}` |" in text


def test_every_spreadsheet_column_is_documented_in_the_user_guide() -> None:
    from pathlib import Path

    from campaigns.spreadsheet import COLUMNS

    guide = (Path(__file__).resolve().parents[2] / "docs/user-guide.md").read_text("utf-8")
    missing = [name for name in COLUMNS if f"| `{name}` |" not in guide]
    assert not missing, f"docs/user-guide.md does not document the columns {missing}"


def test_configuration_reference_documents_every_setting_and_channel_option() -> None:
    from connectors.options import PLATFORMS
    from elshi.docs import render_configuration
    from elshi.settings import SECTIONS

    text = render_configuration()
    for section in SECTIONS:
        assert f"## `[{section.name}" in text
        for setting in section.settings():
            assert f"| `{setting.key}` |" in text
    for platform in PLATFORMS.values():
        assert f'### `platform = "{platform.name}"`' in text
        for option in platform.options:
            key = f"{option.name}_env" if option.secret else option.name
            assert f"| `{key}` |" in text
