"""Links and UTM templates: one definition of a web address, and templates that can only name
the placeholders Elshi fills (never Python formatting of what a user wrote)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from campaigns.links import UnsafeUrl, check_template, fill_template, web_url
from tests.campaigns.factory import doc, load, post

SAFE = [
    "https://example.org",
    "http://example.org/path?q=1#top",
    "https://kazembassy.de/nauryz-2027",
    "https://例え.jp/パス",
    "HTTPS://EXAMPLE.ORG/",
]
UNSAFE = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox",
    "file:///etc/passwd",
    "ftp://example.org",
    "https://example.org/a\r\nX: y",
    "https://example.org/a\x00",
    "https://exa mple.org",
    "https://example.org/\u202egnp.exe",
    "https://user:pw@example.org",
    "https://",
    "https:example.org",
    "https://example.org:99999/",
    "https://" + "a" * 2100,
    "//example.org",
    "https:\\\\example.org",
]


@pytest.mark.parametrize("url", SAFE)
def test_web_addresses_are_accepted(url: str) -> None:
    assert web_url(url) == url


@pytest.mark.parametrize("url", UNSAFE)
def test_anything_else_is_refused_with_a_reason(url: str) -> None:
    with pytest.raises(UnsafeUrl) as caught:
        web_url(url)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://example.org/a b"])
def test_a_post_link_that_is_not_a_web_address_is_located(tmp_path: Path, url: str) -> None:
    loaded = load(tmp_path, doc(posts=[post(link=url)]))
    assert loaded.desired is None
    [problem] = loaded.errors
    assert problem.message.startswith("link: ") and problem.line == line_of(tmp_path, "link:")


def line_of(tmp_path: Path, key: str) -> int:
    lines = (tmp_path / "campaign.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.strip().startswith(key))


def utm_problem(tmp_path: Path, **templates: str) -> str:
    document = doc(posts=[post(link="https://example.org/")])
    document["campaign"]["utm"] = templates
    loaded = load(tmp_path, document)
    assert loaded.desired is None
    [problem] = loaded.errors
    return str(problem)


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{chanel}", "unknown placeholder {chanel} (did you mean {channel}?)"),
        ("{campaign.__class__}", "unknown placeholder {campaign.__class__}"),
        ("{post:>999999999}", "unknown placeholder {post:>999999999}"),
        ("{post!r}", "unknown placeholder {post!r}"),
        ("{0}", "unknown placeholder {0}"),
        ("x{", "without its partner"),
        ("}x", "without its partner"),
    ],
)
def test_a_template_may_only_name_known_placeholders(
    tmp_path: Path, template: str, words: str
) -> None:
    message = utm_problem(tmp_path, source=template)
    assert words in message and f":{line_of(tmp_path, 'source:')}:" in message


def test_templates_are_filled_without_python_formatting(tmp_path: Path) -> None:
    document = doc(posts=[post(link="https://example.org/?a=1", variant="B")])
    document["campaign"]["utm"] = {"source": "{channel}", "content": "{post}-{variant}-{language}"}
    loaded = load(tmp_path, document)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.desired is not None
    [delivery] = loaded.desired.deliveries
    url = next(w for w in delivery.text.split() if w.startswith("https://"))
    query = parse_qs(urlsplit(url).query)
    assert query["utm_source"] == ["de-x"] and query["utm_content"] == ["hello-B-de"]
    assert query["a"] == ["1"]


def test_fill_template_leaves_text_without_placeholders_alone() -> None:
    assert fill_template("social", {"post": "x"}) == "social"
    assert check_template("{campaign}_{post}") == "{campaign}_{post}"
