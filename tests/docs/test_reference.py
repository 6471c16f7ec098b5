"""The campaign format reference in docs/ is generated from the models: it must be current."""

from __future__ import annotations

from campaigns.reference import render
from tests.conftest import ROOT


def test_campaign_format_reference_matches_the_models() -> None:
    path = ROOT / "docs" / "campaign-format.md"
    assert path.read_text(encoding="utf-8") == render(), (
        "docs/campaign-format.md is out of date: run "
        'python -c "from campaigns.reference import render; '
        "open('docs/campaign-format.md','w').write(render())\""
    )


def test_reference_documents_every_field_of_a_post() -> None:
    from campaigns.definition import PostSpec

    text = render()
    for name, field in PostSpec.model_fields.items():
        assert f"| `{field.alias or name}` |" in text


def test_every_spreadsheet_column_is_documented_in_the_user_guide() -> None:
    from pathlib import Path

    from campaigns.spreadsheet import COLUMNS

    guide = (Path(__file__).resolve().parents[2] / "docs/user-guide.md").read_text("utf-8")
    missing = [name for name in COLUMNS if f"| `{name}` |" not in guide]
    assert not missing, f"docs/user-guide.md does not document the columns {missing}"
