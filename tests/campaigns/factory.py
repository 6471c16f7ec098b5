"""Campaign documents for tests: a small valid campaign as plain data, edited per test and
written as YAML. Channel names are those of the starter configuration (``elshi init``)."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

from campaigns.validation import Loaded, load_campaign

# The starter config's sandbox channels, as the validator sees them (`mimic` = the platform).
CHANNELS = {
    "de-x": "x",
    "de-mastodon": "mastodon",
    "de-bluesky": "bluesky",
    "de-telegram": "telegram",
    "cn-weibo": "sandbox",
    "cn-wechat": "sandbox",
    "cn-x": "x",
}

BASE: dict[str, Any] = {
    "campaign": {
        "id": "de-test",
        "title": "Kazakhstan: gateway to Eurasia",
        "country": "DE",
        "narrative": "gateway",
        "starts": "2027-01-01",
        "ends": "2027-12-31",
        "timezone": "Europe/Berlin",
        "hashtags": ["#Kasachstan"],
    },
    "events": {"nauryz": "2027-03-21", "abai-day": {"date": "2027-08-10", "time": "18:00"}},
    "audiences": [
        {
            "id": "public",
            "name": "German public",
            "group": "general_public",
            "languages": ["de", "en"],
            "channels": ["de-x"],
        }
    ],
    "posts": [
        {
            "id": "hello",
            "category": "cultural_event",
            "audiences": ["public"],
            "when": "2027-04-15 10:00",
            "text": "Hallo aus Astana.",
        }
    ],
}


def doc(**sections: Any) -> dict[str, Any]:
    """A deep copy of `BASE` with whole sections replaced."""
    out = copy.deepcopy(BASE)
    out.update(copy.deepcopy(sections))
    return out


def post(key: str = "hello", **fields: Any) -> dict[str, Any]:
    base = copy.deepcopy(BASE["posts"][0])
    base["id"] = key
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def audience(key: str, channels: list[str], **fields: Any) -> dict[str, Any]:
    base = copy.deepcopy(BASE["audiences"][0])
    base.update(id=key, name=key, channels=channels, **fields)
    return base


def dump(document: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def write(path: Path, document: Any) -> Path:
    path.write_text(dump(document) if not isinstance(document, str) else document, "utf-8")
    return path


def load(
    tmp_path: Path, document: Any, *, name: str = "campaign.yaml", channels: Any = CHANNELS
) -> Loaded:
    return load_campaign(write(tmp_path / name, document), channels=channels)
