"""Languages: every interface string is in the Russian catalog, translated, and the compiled
catalog shipped with the package is the one compiled from it; pages speak the viewer's language
with dates in their locale."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import ROOT
from tests.web.conftest import Workspace, post_form

CATALOG = ROOT / "web" / "translations" / "ru" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}


def _extracted() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    found = extract_from_dir(
        str(ROOT / "web"), method_map, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True
    )
    return {m[2] if isinstance(m[2], str) else m[2][0] for m in found}


def _ids(path: Path) -> dict[str, object]:
    catalog = read_po(path.open("rb"))
    return {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in catalog if m.id}


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def test_every_interface_string_is_translated_into_russian() -> None:
    in_code = _extracted()
    in_catalog = _ids(CATALOG / "messages.po")
    missing = sorted(in_code - set(in_catalog))
    unused = sorted(set(in_catalog) - in_code)
    untranslated = sorted(
        k for k, v in in_catalog.items() if not (v if isinstance(v, str) else all(v))
    )
    hint = "see docs/web.md, Languages: pybabel extract/update, translate, pybabel compile"
    assert not missing, f"not in the Russian catalog ({hint}): {missing}"
    assert not unused, f"no longer in the code ({hint}): {unused}"
    assert not untranslated, f"untranslated: {untranslated}"


def test_the_compiled_catalog_is_current() -> None:
    po = read_po((CATALOG / "messages.po").open("rb"))
    mo = read_mo(io.BytesIO((CATALOG / "messages.mo").read_bytes()))
    want = {_key(m.id): _key(m.string) for m in po if m.id}
    got = {_key(m.id): _key(m.string) for m in mo if m.id}
    assert got == want, "run: pybabel compile -d web/translations"


def test_the_workspace_speaks_russian_with_russian_dates(ws: Workspace) -> None:
    client = ws.client("pavel")
    post_form(client, "/me", {"language": "ru", "timezone": "Asia/Almaty"}, page="/me")
    page = client.get("/calendar?date=2027-03-21").get_data(as_text=True)
    assert 'lang="ru"' in page and "Календарь" in page and "март 2027" in page.lower()
    assert "Asia/Almaty" in page
    english = ws.client("pavel").get("/calendar", headers={"Accept-Language": "ru"})
    assert "Календарь" in english.get_data(as_text=True)
    # A browser names its region too: Russian of Russia is still the Russian catalog.
    regional = ws.client("pavel").get(
        "/calendar?date=2027-03-21", headers={"Accept-Language": "ru-RU,ru;q=0.9,en-US;q=0.8"}
    )
    text = regional.get_data(as_text=True)
    assert 'lang="ru"' in text and "Календарь" in text and "март 2027" in text
    # A region that does not exist is the language alone, never an error.
    for made_up in ("ru-XX", "en-AA", "en-ZZ;q=0.9", "ru-RU-x-private", "*", "12-34"):
        odd = ws.client("pavel").get("/calendar", headers={"Accept-Language": made_up})
        assert odd.status_code == 200, made_up


def test_what_the_approval_rules_record_reads_in_russian(ws: Workspace) -> None:
    """The post's decisions (the audit log's reasons of `campaigns.approval`) and the chain's
    "who may approve" are shown in the viewer's language; comments stay as written."""
    from sqlalchemy import select

    from campaigns.schema import Post
    from campaigns.store import session_factory

    with session_factory(ws.engine)() as s:
        post_id = s.scalar(select(Post.id).where(Post.key == "nauryz"))
    post_form(ws.client("pavel"), f"/posts/{post_id}/decide", {"decision": "approve"})
    post_form(
        ws.client("amir"), f"/posts/{post_id}/decide", {"decision": "reject", "comment": "Tone"}
    )
    client = ws.client("pavel")
    client.set_cookie("elshi_lang", "ru")
    page = client.get(f"/posts/{post_id}").get_data(as_text=True)
    decisions = page[page.index('id="decisions"') :]
    assert "этап press-secretary одобрен" in decisions
    assert "этап ambassador отклонён: Tone" in decisions
    assert "step " not in decisions and "approved" not in decisions
    assert "любой согласующий" in page and "any approver" not in page


def test_a_wrong_address_is_the_error_page_in_the_viewers_language_with_a_way_back(
    ws: Workspace,
) -> None:
    """A calendar address with a day that is not one, a view it does not have, or a NUL in a
    filter: 400, the workspace's error page saying what is wrong in the viewer's language, and a
    link to the same address without the wrong argument (the other filters kept)."""
    import html
    import re

    wrong = {
        "view=year&channel=de-x": ("year", "/calendar?channel=de-x"),
        "view=week&date=2027-13-01&channel=de-x": (
            "2027-13-01",
            "/calendar?view=week&channel=de-x",
        ),
        "date=2027-02-30": ("2027-02-30", "/calendar"),
        "date=2027-03-01&campaign=x%00": ("campaign", "/calendar?date=2027-03-01"),
    }
    for language, heading in (("en", "Bad request"), ("ru", "Неверный запрос")):
        client = ws.client("anna")
        client.set_cookie("elshi_lang", language)
        for query, (named, back) in wrong.items():
            answer = client.get(f"/calendar?{query}")
            assert answer.status_code == 400, query
            page = answer.get_data(as_text=True)
            assert f'lang="{language}"' in page and f"<h1>{heading}</h1>" in page, query
            message = html.unescape(re.findall(r"<p>(.*?)</p>", page, re.S)[0])
            assert named in message, (query, message)
            words = set(re.findall(r"[a-z]{4,}", message.replace(named, "").replace("Elshi", "")))
            if language == "ru":  # nothing but the value itself in English
                assert re.search("[а-я]{4}", message) and not words, (query, message)
            links = [html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', page)]
            assert back in links, (query, links)
            assert client.get(back).status_code == 200
