"""End to end in a real browser (Debian's Chromium driven by Selenium and chromedriver) against
`elshi web` served by gunicorn as a separate process, with the daemon (`elshi run`) as another:
a press officer uploads the Germany example (and a broken copy), two approvers sign it off while
the author's own approval is refused, the post is on the calendar, the daemon publishes it, the
operator pulls the kill switch while the daemon runs and nothing more goes out, the manager reads
the report. With ``ELSHI_SCREENSHOTS=1`` each page is saved into docs/screenshots/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery"
SHOTS = ROOT / "docs" / "screenshots"


def _need_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        message = f"not installed: {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Office:
    root: Path
    config: Path
    base: str
    env: dict[str, str]
    outbox: Path

    def elshi(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "elshi", "--config", str(self.config), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def published(self) -> list[Path]:
        return sorted(self.outbox.rglob("*.html")) if self.outbox.exists() else []


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    """A workspace (the starter elshi.toml: sandbox channels), its people, and `elshi web`."""
    from importlib.resources import files

    from argon2 import PasswordHasher

    from campaigns import people
    from campaigns.store import make_engine, session_factory, upgrade

    _need_browser()
    root = tmp_path_factory.mktemp("office")
    port = _free_port()
    template = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
    config = root / "elshi.toml"
    config.write_text(
        template.replace("[daemon]\n", '[daemon]\npoll = "2s"\n', 1)
        + '\n[channels.ks-sandbox]\nplatform = "sandbox"\nrate = "12/m"\n'
        + f'\n[web]\nbind = "127.0.0.1:{port}"\nbase_url = "http://127.0.0.1:{port}"\n'
        'workers = 1\ntimezone = "Europe/Berlin"\nsession_lifetime = "1h"\n',
        encoding="utf-8",
    )
    engine = make_engine(f"sqlite:///{root / 'elshi.db'}")
    upgrade(engine)
    previous = people.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    with session_factory(engine)() as session:
        now = datetime.now(UTC)
        admin = people.add_user(
            session,
            "admin",
            roles=["admin"],
            password=PASSWORD,
            by=people.Person.local("t"),
            now=now,
        )
        by = people.Person.of(admin)
        for name, full, roles in (
            ("anna", "Anna Author", ["author", "approver"]),
            ("pavel", "Pavel Press-Secretary", ["approver"]),
            ("amir", "Amir Ambassador", ["approver"]),
            ("olga", "Olga Operator", ["operator"]),
            ("marat", "Marat Manager", ["manager"]),
        ):
            people.add_user(
                session, name, display_name=full, roles=roles, password=PASSWORD, by=by, now=now
            )
        session.commit()
    people.use_hasher(previous)
    engine.dispose()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ELSHI_")},
        "ELSHI_WEB_SECRET_KEY": "t" * 40,
        "PYTHONPATH": str(ROOT),
    }
    log = (root / "web.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "elshi", "--config", str(config), "web"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _answers(base + "/login"), 60, "elshi web did not start: " + str(root))
        yield Office(root, config, base, env, root / "outbox")
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _wait(condition: Callable[[], Any], seconds: float, message: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(message)


@pytest.fixture(scope="module")
def browser(office: Office) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,900",
        "--hide-scrollbars",
        "--lang=en-GB",
        f"--user-data-dir={office.root / 'chrome'}",
    ):
        options.add_argument(arg)
    # What the browser asks pages for (headless Chromium ignores --lang for Accept-Language):
    # English of a European office, so dates read day first with a 24-hour clock.
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-GB,en"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class Person:
    """One person at the browser: log in, open pages, click, read."""

    def __init__(self, driver: Any, office: Office):
        self.d = driver
        self.office = office

    def login(self, username: str) -> None:
        from selenium.webdriver.common.by import By

        if self.d.find_elements(By.CSS_SELECTOR, "form[action$='/logout'] button"):
            self.submit("form[action$='/logout'] button")  # the person before logs out
        self.d.get(self.office.base + "/login")
        self.d.find_element(By.NAME, "username").send_keys(username)
        self.d.find_element(By.NAME, "password").send_keys(PASSWORD)
        self.d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        _wait(lambda: "/login" not in self.d.current_url, 30, f"{username} could not log in")

    def open(self, path: str) -> str:
        self.d.get(self.office.base + path)
        return str(self.d.page_source)

    def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        self.d.find_element(By.CSS_SELECTOR, css).click()

    def submit(self, css: str) -> None:
        """Click a button or link that loads another page, and wait for it."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        old = self.d.find_element(By.TAG_NAME, "html")
        self.d.find_element(By.CSS_SELECTOR, css).click()

        def replaced(_: Any) -> bool:
            # Chromium answers a detached node either as stale or, while the new document is
            # being attached, with "Node with given id does not belong to the document".
            try:
                old.is_enabled()
            except WebDriverException:  # StaleElementReferenceException is one of these
                return True
            return False

        WebDriverWait(self.d, 60).until(replaced)
        WebDriverWait(self.d, 60).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.d.find_element(By.TAG_NAME, "body").text)

    def shot(self, name: str, *, width: int = 1280) -> None:
        """Save a full-page screenshot into docs/screenshots/ (only with ELSHI_SCREENSHOTS=1)."""
        if os.environ.get("ELSHI_SCREENSHOTS") != "1":
            return
        folder = SHOTS
        folder.mkdir(parents=True, exist_ok=True)
        import base64

        self.d.set_window_size(width, 900)
        height = int(self.d.execute_script("return document.documentElement.scrollHeight"))
        self.d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": min(max(height, 700), 3000),
                "deviceScaleFactor": 1,
                "mobile": False,
            },
        )
        shot = self.d.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        (folder / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
        self.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        self.d.set_window_size(1280, 900)

    def wider_than_the_window(self, address: str, *, width: int = 390) -> int:
        """How many pixels ``address`` sticks out sideways at a phone's width (0: none)."""
        self.d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": True},
        )
        try:
            self.d.get(address if "://" in address else self.office.base + address)
            return int(
                self.d.execute_script(
                    "const e = document.documentElement; return e.scrollWidth - e.clientWidth"
                )
            )
        finally:
            self.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def menu_opens_from_the_keyboard(self, *, width: int = 390) -> bool:
        """At a phone's width: Tab reaches the menu's button (within the top bar's first few
        stops) and Space opens the menu."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": True},
        )
        try:
            self.d.get(self.office.base + "/calendar")
            menu = self.d.find_element(By.CSS_SELECTOR, "nav.mainnav")
            assert not menu.is_displayed(), "the menu is open before it was asked for"
            for _stop in range(4):
                ActionChains(self.d).send_keys(Keys.TAB).perform()
                if self.d.execute_script("return document.activeElement.id") == "nav-toggle":
                    ActionChains(self.d).send_keys(Keys.SPACE).perform()
                    return bool(menu.is_displayed())
            return False
        finally:
            self.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def console_errors(self) -> list[str]:
        """Script errors and failed loads (the broken upload's 422 answer is expected)."""
        return [
            e["message"]
            for e in self.d.get_log("browser")
            if e["level"] == "SEVERE" and "status of 422" not in e["message"]
        ]


def _upload(person: Person, yaml_path: Path, media: list[Path]) -> None:
    from selenium.webdriver.common.by import By

    person.open("/campaigns")
    person.d.find_element(By.NAME, "file").send_keys(str(yaml_path))
    if media:
        person.d.find_element(By.NAME, "media").send_keys("\n".join(str(m) for m in media))
    person.submit("form[action$='/campaigns/upload'] button[type=submit]")


def test_from_upload_to_published_without_a_terminal(office: Office, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    me = Person(browser, office)
    media = sorted((EXAMPLES / "media").glob("*.png"))

    # The press officer uploads a broken copy: the errors at their lines, nothing changes.
    me.login("anna")
    me.shot("calendar-empty")
    broken = office.root / "germany-broken.yaml"
    text = (EXAMPLES / "germany.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("country: DE", "country: Germany"), encoding="utf-8")
    _upload(me, broken, media)
    page = me.text()
    assert "nothing was changed" in page and "two-letter country code" in page
    assert browser.find_element(By.CSS_SELECTOR, ".srcline.bad")
    me.shot("upload-errors")
    assert "No campaigns yet" in me.open("/campaigns")

    # The real file: the plan, then apply.
    _upload(me, EXAMPLES / "germany.yaml", media)
    assert "What applying it does" in me.text()
    me.shot("upload-plan")
    me.submit("form[action$='/apply'] button")
    assert "Applied version 1 of de-2027-gateway" in me.text()
    me.shot("campaign")

    # Her own approval is refused: she wrote the post.
    me.open("/calendar?date=2027-03-21")
    nauryz = "//a[contains(@class, 'ev')][span[@class='what' and text()='nauryz']]"
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.XPATH, nauryz).click()  # a click on the calendar opens the post
    _wait(lambda: "/posts/" in browser.current_url, 30, "the post did not open")
    assert old is not None and "nauryz" in me.text()
    post_url = browser.current_url.split("#")[0]
    # No Approve button for her: the page says why.
    assert not browser.find_elements(By.CSS_SELECTOR, "button[value=approve]")
    assert "you uploaded or changed this post; someone else must approve it" in me.text()

    # The press secretary and the ambassador approve everything waiting for them.
    for approver in ("pavel", "amir"):
        me.login(approver)
        me.open("/approvals")
        if approver == "pavel":
            me.shot("approvals")
        me.click("input[data-check-all]")
        me.submit("form[action$='/approvals/bulk'] button.primary")
        assert "posts?" in me.text()  # the confirmation
        me.submit("main button.primary")
        assert "You approved" in me.text()
    me.d.get(post_url)
    assert "approved by pavel" in me.text() and "approved by amir" in me.text()
    me.shot("post")

    # On the calendar, approved (coloured as such); then the daemon publishes Nauryz.
    me.open("/calendar?date=2027-03-21")
    assert browser.find_elements(By.CSS_SELECTOR, "a.ev.state-approved")
    me.shot("calendar")
    me.open("/calendar?view=week&date=2027-03-21")
    me.shot("calendar-week")
    # With the keyboard a filter drop-down waits for the Filter button: each arrow key is a
    # change, and applying the first would reload the page under the second.
    channel = browser.find_element(By.CSS_SELECTOR, "form.filters select[name=channel]")
    wanted = channel.find_elements(By.TAG_NAME, "option")[2].get_attribute("value")
    count_submits = (
        "window.submits = 0; HTMLFormElement.prototype.submit = function () { submits++; };"
    )
    browser.execute_script(count_submits)  # the change handler runs while the key is pressed
    channel.send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    assert browser.execute_script("return window.submits") == 0
    me.submit("form.filters button[type=submit]")
    assert f"channel={wanted}&" in browser.current_url + "&", browser.current_url
    done = office.elshi("run", "--once", "--now", "2027-03-21T09:05:00Z", "--no-collect")
    assert done.returncode == 0, done.stderr
    assert "published" in done.stdout
    me.d.get(post_url)
    assert "published" in me.text()
    assert office.published()

    # The manager reads the report; the operator sees operations.
    me.login("marat")
    me.open("/reports?campaign=de-2027-gateway&as_of=2027-03-31")  # after Nauryz went out
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe.report"))
    assert "de-2027-gateway" in me.text() or "Kasachstan" in me.text()
    browser.switch_to.default_content()
    me.shot("reports")
    me.login("olga")
    me.open("/operations")
    me.shot("operations")
    me.login("admin")
    me.open("/users")
    me.shot("users")
    me.open("/audit")
    me.shot("audit")
    me.open("/calendar?date=2027-03-21")
    me.shot("calendar-narrow", width=420)
    # On a phone no page is wider than the screen: a wide table scrolls inside its card.
    for address in ("/calendar?date=2027-03-21", "/campaigns", "/campaigns/de-2027-gateway"):
        assert me.wider_than_the_window(address) == 0, address
    assert me.wider_than_the_window(post_url) == 0, post_url
    assert me.menu_opens_from_the_keyboard()
    # The same workspace in Russian (My settings keeps the choice in a cookie).
    me.d.add_cookie({"name": "elshi_lang", "value": "ru", "path": "/"})
    assert "Календарь" in me.open("/calendar?date=2027-03-21")
    me.shot("calendar-ru")
    me.d.get(post_url)
    me.shot("post-ru")
    me.d.delete_cookie("elshi_lang")
    assert not me.console_errors()
    shutil.rmtree(office.root / "chrome", ignore_errors=True)


def _kill_switch_campaign(now: datetime, posts: int) -> str:
    """Posts due at the current minute (already due, within the grace) on one sandbox channel
    whose rate spaces them 5 s apart: the daemon sends them one by one."""
    when = now.strftime("%Y-%m-%d %H:%M")
    day = now.date()
    lines = [
        "campaign:",
        "  id: ks-test",
        '  title: "Kill switch rehearsal"',
        "  country: DE",
        "  timezone: UTC",
        f"  starts: {day.isoformat()}",
        f"  ends: {day.replace(year=day.year + 1).isoformat()}",
        "  narrative: calm",
        "  approval: false",
        '  grace: "2h"',
        "audiences:",
        "  - id: all",
        '    name: "Everyone"',
        "    group: general_public",
        "    languages: [en]",
        "    channels: [ks-sandbox]",
        "posts:",
    ]
    for n in range(posts):
        lines += [
            f"  - id: p{n}",
            "    category: media_pr",
            "    audiences: [all]",
            f'    when: "{when}"',
            f'    text: "Rehearsal post {n}"',
        ]
    return "\n".join(lines) + "\n"


def _sent(office: Office) -> list[tuple[int, str, datetime | None]]:
    """(delivery id, state, when its platform call began) of the rehearsal's deliveries."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{office.root / 'elshi.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT d.id, d.state, d.sending_at FROM delivery d JOIN post p "
                    "ON d.post_id = p.id WHERE p.campaign_id = 'ks-test' ORDER BY d.id"
                )
            ).all()
    finally:
        engine.dispose()
    return [
        (r[0], r[1], datetime.fromisoformat(r[2]).replace(tzinfo=UTC) if r[2] else None)
        for r in rows
    ]


def test_the_kill_switch_stops_a_running_daemon(office: Office, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    me = Person(browser, office)
    me.login("anna")
    campaign = office.root / "ks-test.yaml"
    campaign.write_text(_kill_switch_campaign(datetime.now(UTC), posts=10), encoding="utf-8")
    _upload(me, campaign, [])
    assert "What applying it does" in me.text(), me.text()
    me.submit("form[action$='/apply'] button")
    assert "Applied version 1 of ks-test" in me.text()

    log = (office.root / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "elshi", "--config", str(office.config), "run"],
        env=office.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(
            lambda: sum(state == "published" for _, state, _ in _sent(office)) >= 1,
            60,
            "the daemon published nothing (see daemon.log)",
        )
        me.login("olga")
        me.open("/operations")
        Select(browser.find_element(By.NAME, "what")).select_by_value("campaign:ks-test")
        browser.find_element(By.NAME, "reason").send_keys("statement under review")
        old = browser.find_element(By.TAG_NAME, "html")
        browser.find_element(By.CSS_SELECTOR, "button[name=go]").click()
        browser.switch_to.alert.accept()  # "Pause publishing now?"
        _wait(lambda: _stale(old), 30, "the pause did not answer")
        returned = datetime.now(UTC)
        page = me.text()
        assert "Paused. Nothing it covers starts publishing" in page
        me.shot("operations-paused")
        flashes = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".flash-error")]
        in_flight = sum(t.count("ks-test/p") for t in flashes if "Already being sent" in t)
        # Seven seconds more: at 5 s a post, at least one more would have gone out.
        time.sleep(7)
        rows = _sent(office)
        began_after = [r for r in rows if r[2] is not None and r[2] > returned]
        published = [r for r in rows if r[1] == "published"]
        assert not began_after, f"sending began after the pause returned: {began_after}"
        assert 1 <= len(published) <= 10 - 1, rows
        assert in_flight <= 1
        held = [r for r in rows if r[1] in ("approved", "scheduled")]
        assert held, "nothing was left for the pause to hold"
        assert 'class="killbar"' in me.open("/calendar")
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        log.close()


def _stale(element: Any) -> bool:
    try:
        element.is_enabled()
    except Exception:
        return True
    return False


def test_back_shows_a_page_as_it_was_left_and_a_refused_form_keeps_the_filter(
    office: Office, browser: Any
) -> None:
    """Back after leaving a half-typed form, and after a refused form's answer, shows the page
    as it was (``Cache-Control: private, no-cache``, not varying by the session cookie; with
    ``no-store`` Back to a form's answer was "Confirm Form Resubmission", ERR_CACHE_MISS); the
    refused form's page keeps the filter chosen before it (`web.forms.refused`)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    if "de-2027-gateway" not in office.elshi("campaign", "list").stdout:  # run on its own
        done = office.elshi("--as", "anna", "campaign", "apply", str(EXAMPLES / "germany.yaml"))
        assert done.returncode == 0, done.stdout + done.stderr
    me = Person(browser, office)
    me.login("olga")
    me.open("/operations?country=DE")
    reason = "form[action$='/operations/pause'] input[name=reason]"

    def typed() -> str:
        return str(browser.find_element(By.CSS_SELECTOR, reason).get_attribute("value"))

    def back() -> None:
        old = browser.find_element(By.TAG_NAME, "html")
        browser.back()
        _wait(lambda: _stale(old), 30, "Back did not leave the page")
        _wait(
            lambda: browser.execute_script("return document.readyState") == "complete",
            30,
            "the page did not load",
        )

    browser.find_element(By.CSS_SELECTOR, reason).send_keys("Staatstrauer")
    me.submit("nav.mainnav a[href='/calendar']")
    back()
    assert "/operations?country=DE" in browser.current_url
    assert typed() == "Staatstrauer"  # not an empty form to fill again

    field = browser.find_element(By.CSS_SELECTOR, reason)
    field.clear()
    field.send_keys("   ")  # the browser's `required` takes spaces; Elshi does not
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, "button[name=go]").click()
    browser.switch_to.alert.accept()  # "Pause publishing now?"
    _wait(lambda: _stale(old), 30, "the pause did not answer")
    assert "say why" in me.text()
    country = Select(browser.find_element(By.CSS_SELECTOR, "form.filters select[name=country]"))
    assert country.first_selected_option.get_attribute("value") == "DE"  # the filter stayed
    me.submit("nav.mainnav a[href='/calendar']")
    back()
    text = me.text()
    assert "say why" in text and "Resubmission" not in text, text[:500]


def test_a_wrong_calendar_address_is_a_page_with_a_way_back(office: Office, browser: Any) -> None:
    """A day that is not one in the calendar's address: the workspace's error page says so, in
    the browser's language, and its link opens the same calendar without the wrong day."""
    from selenium.webdriver.common.by import By

    me = Person(browser, office)
    me.login("anna")
    me.open("/calendar?view=week&date=2027-02-30")
    text = me.text()
    assert "Bad request" in text and "“2027-02-30” is not a day the calendar can show" in text
    assert browser.find_element(By.CSS_SELECTOR, "nav.mainnav")  # the workspace around it
    me.submit("a[href='/calendar?view=week']")
    assert "/calendar?view=week" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, "nav.tabs a[aria-current=page]").text == "Week"


def test_a_refusal_names_the_page_to_use_not_a_command(office: Office, browser: Any) -> None:
    """What the rules say to do next reads as the workspace's page, not as `elshi ...`: a
    pause of a campaign that is gone (a page opened before it was) points to Campaigns."""
    from selenium.webdriver.common.by import By

    me = Person(browser, office)
    me.login("olga")
    me.open("/operations")
    what = browser.find_element(By.CSS_SELECTOR, "form[action$='/operations/pause'] select")
    browser.execute_script(  # the campaign it named has gone since the page was opened
        "const o = document.createElement('option'); o.value = 'campaign:gone'; "
        "o.textContent = 'Gone'; arguments[0].append(o); arguments[0].value = o.value;",
        what,
    )
    browser.find_element(
        By.CSS_SELECTOR, "form[action$='/operations/pause'] input[name=reason]"
    ).send_keys("Staatstrauer")
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, "button[name=go]").click()
    browser.switch_to.alert.accept()
    _wait(lambda: _stale(old), 30, "the pause did not answer")
    said = browser.find_element(By.CSS_SELECTOR, ".flash-error").text
    assert "no campaign 'gone'" in said and "see the Campaigns page" in said, said
    assert "elshi" not in said
