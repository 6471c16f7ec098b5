"""The sandbox: the default channel kind, which "publishes" into a local folder and models
engagement instead of measuring it, so a campaign can be rehearsed with no account and no
network. It owns the outbox layout (an HTML page and a JSON record per post, created atomically
and at most once per idempotency key), seeded fault simulation and the engagement model below.
It never touches the network or the wall clock (time comes from the injected clock), and
everything it writes or returns says it is simulated.

Options (``[channels.NAME]`` with ``platform = "sandbox"``; the sandbox reads no secret):

* ``outbox``: the folder to publish into (the config loader resolves it; default ``./outbox``).
  A post becomes ``<outbox>/<channel>/<remote_id>.html`` (a readable page with a SIMULATED
  banner; its ``file://`` URI is kept in the record, not given as a permalink: Elshi stores web
  addresses only) and ``<remote_id>.json`` (the record). The remote id is a hash of the idempotency key, so publishing a key again returns the first post.
  Removing the JSON record, or creating ``<remote_id>.deleted`` (`mark_deleted`), deletes it.
* ``followers``: the account's size when the channel is first used (default 2000).
* ``seed``: seeds every draw (default 0); the same seed and history give the same numbers.
* ``mimic``: the name of another platform (``x``, ``mastodon``, ``bluesky``, ``telegram``,
  ``weibo``, ``wechat``, ``linkedin``, ``threads``): return only the counters that
  Elshi's connector for that platform gives (`MIMIC`), the others None.
* ``fail_rate``: 0..1 (default 0): that share of publish attempts raise `TransientError`
  ("simulated outage"), decided by a hash of (seed, key, attempt number); attempts are counted
  in ``<outbox>/<channel>/.attempts/`` so separate processes agree.
* ``reject_words``: a list (or comma-separated string); a text containing one, in any case,
  is refused with `RejectedError`.
* ``latency``: seconds to sleep in every call (default 0; for benchmarks only).

The engagement model (every constant is in `MODEL`). For a post with remote id ``r`` one
generator seeded by (seed, r) draws its final counters once:

* ``impressions = Poisson(F × reach × category.reach × hour[h] × weekday[d] × audience.reach ×
  language[l] × LN(impression_sigma))``, where F is ``followers`` (the configured size), h the
  meta ``local_hour`` (the audience's local time), d the meta ``weekday`` (0 = Monday), l the
  post's language (its primary subtag; ``language["*"]`` for others) and ``LN(σ) = exp(σZ −
  σ²/2)`` a lognormal factor with mean 1. A missing or malformed label counts as 1.
* each engagement counter ``k`` in likes, reposts, replies, quotes, bookmarks, link_clicks:
  ``Poisson(impressions × category.k × audience.k × variant(tag) × E)``, capped at impressions,
  where ``E = LN(engagement_sigma)`` is drawn once per post (a post that lands, lands with every
  counter); ``audience.k`` is the audience's ``likes`` factor for likes and bookmarks, ``shares``
  for reposts and quotes, ``replies`` for replies, 1 for link clicks.
* ``variant(tag) = 1 + variant_spread × (2u − 1)`` with u uniform from a hash of (seed, tag):
  a fixed effect of a few percent per A/B tag (1 without a tag), so a test may find a winner.
* the audience's row is the meta ``audience_group`` or else ``audience`` label: its exact group
  name (``-`` read as ``_``), else the first group one of whose keywords it contains
  (``public-de`` is general_public), else the neutral ``*`` row; the category's likewise.
* link_clicks exist only when the text contains an http(s) URL (else None).

What a fetch at ``clock()`` returns is ``floor(final × (1 − exp(−age / tau)))`` with ``age`` the
time since ``published_at``: 0 before publication, never decreasing, the same at the same
instant. Like the real platforms, ``replies`` also counts the channel's own replies to the post
(a campaign's thread continuations) from the moment each was published, while it is not
deleted; reports subtract them again. An account has ``round(F × (1 + daily_growth)^days + F × per_post_growth × posts)``
followers, ``days`` counted from the channel's first use in this outbox (``.channel.json``) and
``posts`` the records in its folder.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import random
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, NamedTuple, NotRequired, TypedDict, cast

from connectors.base import (
    METRIC_FIELDS,
    AuthError,
    Capabilities,
    ChannelSettings,
    Clock,
    Connector,
    Identity,
    MetricSample,
    OutgoingPost,
    Published,
    RejectedError,
    SessionStore,
    TransientError,
    system_clock,
)

BANNER = "SIMULATED — published to the Elshi sandbox, not to a real platform"

MIMIC: dict[str, frozenset[str]] = {
    "x": frozenset({"impressions", "likes", "reposts", "replies", "quotes", "bookmarks"}),
    "mastodon": frozenset({"likes", "reposts", "replies", "quotes"}),
    "bluesky": frozenset({"likes", "reposts", "replies", "quotes", "bookmarks"}),
    "telegram": frozenset({"likes"}),
    "weibo": frozenset({"likes", "reposts", "replies"}),
    "wechat": frozenset({"impressions", "reposts", "bookmarks"}),
    "linkedin": frozenset({"impressions", "likes", "reposts", "replies", "link_clicks"}),
    "threads": frozenset({"impressions", "likes", "reposts", "replies", "quotes"}),
}
"""The post counters Elshi's connector for each platform collects (followers come with all).
X's link clicks are left out: they need the opt-in private metrics."""

ENGAGEMENTS = ("likes", "reposts", "replies", "quotes", "bookmarks", "link_clicks")

_REMOTE_ID = re.compile(r"sbx-[0-9a-f]{16}")
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_URL = re.compile(r"https?://\S", re.IGNORECASE)


# --- the model --------------------------------------------------------------------------------


class CategoryRow(NamedTuple):
    """Reach factor and per-impression rate of each engagement counter."""

    reach: float
    likes: float
    reposts: float
    replies: float
    quotes: float
    bookmarks: float
    link_clicks: float


class AudienceRow(NamedTuple):
    """Reach and engagement factors of a target group, and the words that name it."""

    reach: float
    likes: float
    shares: float
    replies: float
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngagementModel:
    reach: float
    impression_sigma: float
    engagement_sigma: float
    variant_spread: float
    tau_hours: float
    daily_growth: float
    per_post_growth: float
    categories: Mapping[str, CategoryRow]
    audiences: Mapping[str, AudienceRow]
    hour: tuple[float, ...]
    weekday: tuple[float, ...]
    language: Mapping[str, float]


MODEL = EngagementModel(
    reach=0.35,
    impression_sigma=0.45,
    engagement_sigma=0.30,
    variant_spread=0.08,
    tau_hours=4.0,
    daily_growth=0.001,
    per_post_growth=0.0005,
    # Culture and tourism draw applause; forums and press material are passed on rather than liked.
    categories={
        #                          reach  likes  reposts replies quotes bookmarks clicks
        "cultural_event": CategoryRow(1.15, 0.032, 0.0040, 0.0020, 0.0008, 0.0020, 0.008),
        "tourism": CategoryRow(1.20, 0.034, 0.0045, 0.0018, 0.0006, 0.0035, 0.012),
        "education": CategoryRow(0.90, 0.020, 0.0045, 0.0015, 0.0006, 0.0030, 0.010),
        "economic_forum": CategoryRow(0.85, 0.012, 0.0060, 0.0012, 0.0010, 0.0025, 0.011),
        "media_pr": CategoryRow(0.95, 0.015, 0.0050, 0.0012, 0.0008, 0.0015, 0.007),
        "science_technology": CategoryRow(1.00, 0.020, 0.0050, 0.0015, 0.0008, 0.0030, 0.009),
        "*": CategoryRow(1.00, 0.020, 0.0040, 0.0015, 0.0007, 0.0020, 0.008),
    },
    # Experts share more than they like; the diaspora is small but the most engaged.
    audiences={
        #                           reach likes shares replies
        "general_public": AudienceRow(1.00, 1.00, 1.00, 1.00, ("public", "general")),
        "diaspora": AudienceRow(0.80, 1.70, 1.50, 2.00, ("diaspora",)),
        "think_tanks": AudienceRow(0.55, 0.55, 1.60, 0.80, ("think", "expert")),
        "political_foundations": AudienceRow(0.55, 0.60, 1.50, 0.80, ("foundation", "politic")),
        "business": AudienceRow(0.70, 0.70, 1.30, 0.70, ("business", "invest", "trade")),
        "universities": AudienceRow(0.75, 0.90, 1.20, 1.10, ("universit", "academ")),
        "research": AudienceRow(0.65, 0.80, 1.30, 0.90, ("research", "science")),
        "media": AudienceRow(0.60, 0.70, 1.60, 0.90, ("media", "press", "journalist")),
        "government": AudienceRow(0.50, 0.60, 1.30, 0.50, ("government", "official", "ministr")),
        "students": AudienceRow(0.90, 1.20, 1.10, 1.30, ("student", "youth")),
        "tourists": AudienceRow(1.00, 1.20, 1.00, 1.00, ("touris", "travel")),
        "*": AudienceRow(1.00, 1.00, 1.00, 1.00),
    },
    # Local hour 0..23: quiet at night, peaks late morning (11) and early evening (19).
    hour=(
        *(0.25, 0.18, 0.14, 0.12, 0.14, 0.22, 0.40, 0.62, 0.80, 0.92, 1.00, 1.05),
        *(0.98, 0.90, 0.86, 0.88, 0.94, 1.02, 1.10, 1.12, 1.02, 0.85, 0.62, 0.40),
    ),
    weekday=(1.00, 1.05, 1.05, 1.02, 0.95, 0.75, 0.70),
    # Share of a channel's followers who read the language well (the embassy's markets).
    language={"de": 1.00, "zh": 1.00, "en": 0.85, "ru": 0.80, "kk": 0.75, "*": 0.80},
)


@dataclass(frozen=True)
class Counts:
    """A post's counters; link_clicks is None when the text has no link."""

    impressions: int
    likes: int
    reposts: int
    replies: int
    quotes: int
    bookmarks: int
    link_clicks: int | None

    def revealed(self, age_hours: float, tau_hours: float = MODEL.tau_hours) -> Counts:
        """The share of the final counters visible ``age_hours`` after publication."""
        share = 0.0 if age_hours <= 0 else 1.0 - math.exp(-age_hours / tau_hours)
        return Counts(
            impressions=math.floor(self.impressions * share),
            likes=math.floor(self.likes * share),
            reposts=math.floor(self.reposts * share),
            replies=math.floor(self.replies * share),
            quotes=math.floor(self.quotes * share),
            bookmarks=math.floor(self.bookmarks * share),
            link_clicks=None if self.link_clicks is None else math.floor(self.link_clicks * share),
        )


def remote_id_for(idempotency_key: str) -> str:
    return "sbx-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def variant_effect(tag: str, seed: int | str = 0, model: EngagementModel = MODEL) -> float:
    """The fixed engagement multiplier of an A/B variant tag (1.0 without a tag)."""
    if not tag:
        return 1.0
    return 1.0 + model.variant_spread * (2.0 * _unit("variant", seed, tag) - 1.0)


def final_counts(
    remote_id: str,
    *,
    text: str,
    meta: Mapping[str, str],
    language: str | None,
    followers: int,
    seed: int | str = 0,
    model: EngagementModel = MODEL,
) -> Counts:
    """The counters a post ends with, per the model in the module docstring."""
    rng = random.Random(_digest("model", seed, remote_id))
    category = model.categories.get(meta.get("category", ""), model.categories["*"])
    audience = model.audiences[_audience_group(meta, model)]
    lang = (language or meta.get("language") or "").lower().replace("_", "-").split("-")[0]
    expected = (
        followers
        * model.reach
        * category.reach
        * _table_factor(model.hour, meta.get("local_hour"))
        * _table_factor(model.weekday, meta.get("weekday"))
        * audience.reach
        * model.language.get(lang, model.language["*"])
        * _lognormal(rng, model.impression_sigma)
    )
    impressions = _poisson(rng, expected)
    lift = variant_effect(meta.get("variant", ""), seed, model) * _lognormal(
        rng, model.engagement_sigma
    )
    audience_factor = {
        "likes": audience.likes,
        "reposts": audience.shares,
        "replies": audience.replies,
        "quotes": audience.shares,
        "bookmarks": audience.likes,
        "link_clicks": 1.0,
    }
    drawn = {
        name: min(
            impressions,
            _poisson(rng, impressions * getattr(category, name) * audience_factor[name] * lift),
        )
        for name in ENGAGEMENTS
    }
    return Counts(
        impressions=impressions,
        likes=drawn["likes"],
        reposts=drawn["reposts"],
        replies=drawn["replies"],
        quotes=drawn["quotes"],
        bookmarks=drawn["bookmarks"],
        link_clicks=drawn["link_clicks"] if _URL.search(text) else None,
    )


def followers_at(followers: int, days: float, posts: int, model: EngagementModel = MODEL) -> int:
    """The account's followers ``days`` after the channel's first use, with ``posts`` posted."""
    grown = followers * math.pow(1.0 + model.daily_growth, max(0.0, days))
    return round(grown + followers * model.per_post_growth * posts)


def _audience_group(meta: Mapping[str, str], model: EngagementModel) -> str:
    label = (meta.get("audience_group") or meta.get("audience") or "").lower()
    label = label.replace("-", "_").replace(" ", "_")
    if label in model.audiences:
        return label
    for group, row in model.audiences.items():
        if any(word in label for word in row.keywords):
            return group
    return "*"


def _table_factor(table: tuple[float, ...], label: str | None) -> float:
    try:
        index = int(label or "")
    except ValueError:
        return 1.0
    return table[index] if 0 <= index < len(table) else 1.0


def _digest(*parts: object) -> int:
    joined = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(joined, digest_size=8).digest(), "big")


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) decided by ``parts`` alone."""
    return _digest(*parts) / 2.0**64


def _lognormal(rng: random.Random, sigma: float) -> float:
    return math.exp(rng.normalvariate(0.0, sigma) - sigma * sigma / 2.0)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.normalvariate(lam, math.sqrt(lam))))
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


# --- the outbox -------------------------------------------------------------------------------


class OutboxRecord(TypedDict):
    """The JSON record of one sandbox post; ``deleted`` is added by `read_outbox`."""

    simulated: bool
    channel: str
    remote_id: str
    idempotency_key: str
    text: str
    language: str | None
    reply_to: str | None
    media: list[str]
    meta: dict[str, str]
    published_at: str
    url: str
    alt: NotRequired[list[str]]
    article: NotRequired[dict[str, str]]
    deleted: NotRequired[bool]


# Spelled out: ``__required_keys__`` misreads NotRequired under postponed annotations (3.11).
_RECORD_KEYS = frozenset(OutboxRecord.__annotations__) - {"deleted", "alt", "article"}


def read_outbox(outbox: str | Path, channel: str) -> list[OutboxRecord]:
    """Every post the sandbox published in ``channel``, oldest first, with ``deleted`` set."""
    folder = Path(outbox) / channel
    if not folder.is_dir():
        return []
    records = []
    for path in folder.iterdir():
        if path.suffix == ".json" and _REMOTE_ID.fullmatch(path.stem):
            record = _parse_record(path.read_text(encoding="utf-8"), path.stem)
            record["deleted"] = _deleted_marker(folder, path.stem).exists()
            records.append(record)
    return sorted(records, key=lambda r: (r["published_at"], r["remote_id"]))


def mark_deleted(outbox: str | Path, channel: str, remote_id: str) -> None:
    """Delete a sandbox post as a person would on the platform (its record stays, marked)."""
    _deleted_marker(Path(outbox) / channel, remote_id).touch()


def _deleted_marker(folder: Path, remote_id: str) -> Path:
    return folder / f"{remote_id}.deleted"


def _parse_record(raw: str, remote_id: str) -> OutboxRecord:
    data = json.loads(raw)
    if (
        not isinstance(data, dict)
        or data.get("remote_id") != remote_id
        or not data.keys() >= _RECORD_KEYS
    ):
        raise ValueError(f"{remote_id}.json is not a complete record of {remote_id}")
    return cast(OutboxRecord, data)


def _published(record: OutboxRecord) -> Published:
    # No permalink: the outbox page's file:// URI (kept in the record) is no web address, and
    # Elshi stores only those; passing it on made every rehearsed publication's audit entry say
    # "the platform's URL was not stored".
    return Published(
        remote_id=record["remote_id"],
        url=None,
        published_at=datetime.fromisoformat(record["published_at"]),
    )


def render_page(record: OutboxRecord) -> str:
    """A self-contained HTML page showing one sandbox post, unmistakably simulated."""
    e = html.escape
    published = datetime.fromisoformat(record["published_at"])
    lang = record["language"]
    alts = record.get("alt") or []
    media = ", ".join(
        f'<a href="{e(Path(m).as_uri() if Path(m).is_absolute() else m)}">{e(Path(m).name)}</a>'
        + (f" (alt: {e(alts[n])})" if n < len(alts) and alts[n] else " (no alt text)")
        for n, m in enumerate(record["media"])
    )
    labels = ", ".join(f"{e(k)}={e(v)}" for k, v in sorted(record["meta"].items()) if v)
    rows = [
        (
            "Published",
            f'<time datetime="{e(record["published_at"])}">'
            f"{published:%Y-%m-%d %H:%M:%S} UTC</time>",
        ),
        ("Language", e(lang or "—")),
        ("Media", media or "none"),
    ]
    article = record.get("article")
    if article:
        rows.insert(0, ("Article", f"<strong>{e(article.get('title', ''))}</strong>"))
    if record["reply_to"]:
        parent = e(record["reply_to"])
        rows.append(("Reply to", f'<a href="{parent}.html">{parent}</a>'))
    rows += [
        ("Labels", labels or "—"),
        ("Post id", e(record["remote_id"])),
        ("Idempotency key", e(record["idempotency_key"])),
    ]
    details = "\n".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    lang_attr = f' lang="{e(lang)}"' if lang else ""
    return f"""<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>SIMULATED post {e(record["remote_id"])} on {e(record["channel"])} (Elshi sandbox)</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto;
  padding: 0 1rem; color: #222; }}
.banner {{ background: #ffe9a8; border: 2px solid #c90; padding: .75rem 1rem;
  font-weight: bold; }}
.text {{ white-space: pre-wrap; font-size: 1.15rem; border-left: 4px solid #ccc;
  padding: .5rem 1rem; margin: 1.5rem 0; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; color: #555; }}
</style>
</head>
<body>
<p class="banner">{e(BANNER)}</p>
<h1>{e(record["channel"])} <small>(sandbox)</small></h1>
<div class="text"{lang_attr}>{e(record["text"])}</div>
<dl>
{details}
</dl>
</body>
</html>
"""


# --- the connector ----------------------------------------------------------------------------


class SandboxConnector(Connector):
    """A channel that publishes into the local outbox and reports modelled engagement."""

    platform: ClassVar[str] = "sandbox"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset(METRIC_FIELDS),
        metrics_batch_size=100,
        idempotent_publish=True,
        can_reconcile=True,
        default_rate_per_minute=600.0,
        simulated=True,
    )

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sessions=sessions)
        if not _CHANNEL_NAME.fullmatch(settings.name):
            raise self._config_error(f"the name {settings.name!r} cannot be a folder name")
        self.outbox = Path(settings.option("outbox") or "outbox").expanduser().resolve()
        self.folder = self.outbox / settings.name
        self.followers = int(self._number("followers", 2000, low=0))
        self.seed = str(settings.options.get("seed", 0))
        mimic = (settings.option("mimic") or "").strip().lower()
        if mimic and mimic not in MIMIC:
            raise self._config_error(f"mimic = {mimic!r} is not one of {', '.join(MIMIC)}")
        self.mimic = mimic or None
        self.fail_rate = self._number("fail_rate", 0.0, low=0.0, high=1.0)
        self.latency = self._number("latency", 0.0, low=0.0)
        self.reject_words = _words(settings.options.get("reject_words"))

    def __repr__(self) -> str:
        return f"SandboxConnector(name={self.name!r}, outbox={str(self.outbox)!r})"

    # --- the interface --------------------------------------------------------------------

    def whoami(self) -> Identity:
        self._pause()
        with self._io("read the account"):
            followers = self._followers_now()
        return Identity(
            account_id=f"sandbox:{self.name}",
            handle=f"@{self.name} (sandbox)",
            display_name=f"{self.name} (SIMULATED, Elshi sandbox)",
            followers=followers,
            url=self.folder.as_uri(),
        )

    def publish(self, post: OutgoingPost) -> Published:
        self._pause()
        remote_id = remote_id_for(post.idempotency_key)
        with self._io("publish"):
            self.folder.mkdir(parents=True, exist_ok=True)
            record = self._load(remote_id)
            if record is None:
                self._simulate_outage(post.idempotency_key, remote_id)
                self._check(post)
                record = self._commit(self._new_record(post, remote_id))
            self._note_reply(record)
            page = self.folder / f"{remote_id}.html"
            if not page.exists():
                self._write_atomically(page, render_page(record))
        return _published(record)

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        self._pause()
        now = self.clock()
        fields = MIMIC[self.mimic] if self.mimic else frozenset(METRIC_FIELDS)
        samples = []
        with self._io("read metrics"):
            followers = self._followers_now()
            for remote_id in remote_ids:
                record = self._load(remote_id)
                if record is None or _deleted_marker(self.folder, remote_id).exists():
                    samples.append(
                        MetricSample(
                            remote_id=remote_id,
                            collected_at=now,
                            followers=followers,
                            deleted=True,
                            simulated=True,
                        )
                    )
                    continue
                age = now - datetime.fromisoformat(record["published_at"])
                counts = final_counts(
                    remote_id,
                    text=record["text"],
                    meta=record["meta"],
                    language=record["language"],
                    followers=self.followers,
                    seed=self.seed,
                ).revealed(age.total_seconds() / 3600.0)
                given = {
                    name: getattr(counts, name)
                    for name in ("impressions", *ENGAGEMENTS)
                    if name in fields
                }
                if "replies" in given:
                    given["replies"] += self._own_replies(remote_id, now)
                samples.append(
                    MetricSample(
                        remote_id=remote_id,
                        collected_at=now,
                        followers=followers,
                        simulated=True,
                        **given,
                    )
                )
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        # The remote id is the key's hash, so the lookup is exact and ``since`` is not needed.
        self._pause()
        with self._io("look up a post"):
            record = self._load(remote_id_for(post.idempotency_key))
        return None if record is None else _published(record)

    def remote_id_from_url(self, url: str) -> str:
        """A sandbox post's id from its page in this channel's outbox (its ``file://`` URL)."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(url.strip())
        path = Path(unquote(parts.path))
        if (
            parts.scheme != "file"
            or path.parent != self.folder
            or not _REMOTE_ID.fullmatch(path.stem)
        ):
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the page of a post in this channel's "
                f"outbox ({self.folder.as_uri()}/sbx-....html)",
                channel=self.name,
            )
        return path.stem

    # --- publishing -----------------------------------------------------------------------

    def _simulate_outage(self, key: str, remote_id: str) -> None:
        if self.fail_rate <= 0:
            return
        attempt = self._count_attempt(remote_id)
        if _unit("outage", self.seed, key, attempt) < self.fail_rate:
            raise TransientError(
                f"channel {self.name!r}: simulated outage (sandbox fail_rate = {self.fail_rate}, "
                f"attempt {attempt}); nothing was published, try again",
                channel=self.name,
                status=503,
            )

    def _count_attempt(self, remote_id: str) -> int:
        """This attempt's number, agreed between processes: the first free marker file."""
        attempts = self.folder / ".attempts"
        attempts.mkdir(exist_ok=True)
        number = 1
        while True:
            try:
                (attempts / f"{remote_id}.{number}").touch(exist_ok=False)
            except FileExistsError:
                number += 1
            else:
                return number

    def _check(self, post: OutgoingPost) -> None:
        if not post.text.strip() and not post.media:
            raise self._rejected("the post has neither text nor media")
        folded = post.text.casefold()
        for word in self.reject_words:
            if word.casefold() in folded:
                raise self._rejected(
                    f"the text contains {word!r}, which this sandbox channel refuses "
                    "(option reject_words)"
                )
        for path in post.media:
            if not path.is_file():
                raise self._rejected(f"media file {str(path)!r} does not exist")
        if post.reply_to is not None and (
            self._load(post.reply_to) is None
            or _deleted_marker(self.folder, post.reply_to).exists()
        ):
            raise self._rejected(f"reply_to {post.reply_to!r} is not a post of this channel")

    def _new_record(self, post: OutgoingPost, remote_id: str) -> OutboxRecord:
        now = self.clock()
        published_at = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)
        record = OutboxRecord(
            simulated=True,
            channel=self.name,
            remote_id=remote_id,
            idempotency_key=post.idempotency_key,
            text=post.text,
            language=post.language,
            reply_to=post.reply_to,
            media=[str(p) for p in post.media],
            meta=dict(post.meta),
            published_at=published_at.isoformat(),
            url=(self.folder / f"{remote_id}.html").as_uri(),
            alt=[post.alt(n) for n in range(len(post.media))],
        )
        if post.article is not None:
            record["article"] = {"title": post.article.title, "body": post.article.body}
        return record

    def _note_reply(self, record: OutboxRecord) -> None:
        """Remember a reply under its parent (``.replies/PARENT/CHILD`` holds the reply's
        publication time), so the parent's replies count it as a platform's would. Written
        again after a crash between the record and this note (the publish is retried)."""
        parent = record["reply_to"]
        if not parent or not _REMOTE_ID.fullmatch(parent):
            return
        folder = self.folder / ".replies" / parent
        folder.mkdir(parents=True, exist_ok=True)
        note = folder / record["remote_id"]
        if not note.exists():
            self._write_atomically(note, record["published_at"])

    def _own_replies(self, remote_id: str, now: datetime) -> int:
        folder = self.folder / ".replies" / remote_id
        if not folder.is_dir():
            return 0
        count = 0
        for note in folder.iterdir():
            if _deleted_marker(self.folder, note.name).exists():
                continue
            if datetime.fromisoformat(note.read_text(encoding="utf-8").strip()) <= now:
                count += 1
        return count

    def _commit(self, record: OutboxRecord) -> OutboxRecord:
        """Make ``record`` visible in one step, unless another process got there first: then
        theirs is the post."""
        target = self.folder / f"{record['remote_id']}.json"
        temporary = self._temporary(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
        try:
            target.hardlink_to(temporary)
        except FileExistsError:
            theirs = self._load(record["remote_id"])
            if theirs is None:
                raise TransientError(
                    f"channel {self.name!r}: the record {target} vanished while publishing; "
                    "try again",
                    channel=self.name,
                ) from None
            return theirs
        finally:
            temporary.unlink()
        return record

    def _write_atomically(self, path: Path, content: str) -> None:
        self._temporary(content).replace(path)

    def _temporary(self, content: str) -> Path:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=self.folder, prefix=".tmp-", delete=False
        ) as handle:
            handle.write(content)
        return Path(handle.name)

    # --- reading --------------------------------------------------------------------------

    def _load(self, remote_id: str) -> OutboxRecord | None:
        if not _REMOTE_ID.fullmatch(remote_id):
            return None
        try:
            raw = (self.folder / f"{remote_id}.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return _parse_record(raw, remote_id)

    def _followers_now(self) -> int:
        now = self.clock()
        days = (now - self._started(now)).total_seconds() / 86400.0
        posts = sum(
            1 for p in self.folder.iterdir() if p.suffix == ".json" and _REMOTE_ID.fullmatch(p.stem)
        )
        return followers_at(self.followers, days, posts)

    def _started(self, now: datetime) -> datetime:
        """When this channel was first used in this outbox, recorded once for all processes."""
        marker = self.folder / ".channel.json"
        if not marker.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            content = json.dumps(
                {"simulated": True, "channel": self.name, "started_at": now.isoformat()}
            )
            temporary = self._temporary(content + "\n")
            try:
                marker.hardlink_to(temporary)
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        data = json.loads(marker.read_text(encoding="utf-8"))
        started = data.get("started_at") if isinstance(data, dict) else None
        if not isinstance(started, str):
            raise ValueError(f"{marker} has no started_at")
        return datetime.fromisoformat(started)

    # --- helpers --------------------------------------------------------------------------

    def _pause(self) -> None:
        if self.latency > 0:
            time.sleep(self.latency)

    @contextmanager
    def _io(self, action: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise TransientError(
                f"channel {self.name!r}: cannot {action} in the sandbox outbox {self.folder}: "
                f"{exc.strerror or exc}",
                channel=self.name,
            ) from None
        except ValueError as exc:
            raise TransientError(
                f"channel {self.name!r}: cannot {action}: an outbox file in {self.folder} is "
                f"unreadable ({exc}); repair or remove it",
                channel=self.name,
            ) from None

    def _rejected(self, reason: str) -> RejectedError:
        return RejectedError(f"channel {self.name!r}: {reason}", channel=self.name)

    def _config_error(self, problem: str) -> AuthError:
        # The taxonomy's "pause the channel and tell the operator" error, as the other
        # connectors use for a misconfigured channel.
        return AuthError(
            f"channel {self.settings.name!r} (sandbox): {problem}; fix [channels."
            f"{self.settings.name}] in the configuration",
            channel=self.settings.name,
        )

    def _number(self, key: str, default: float, *, low: float, high: float = math.inf) -> float:
        raw = self.settings.options.get(key, default)
        try:
            value = float(raw) if isinstance(raw, int | float | str) else math.nan
        except ValueError:
            value = math.nan
        if isinstance(raw, bool) or not low <= value <= high:
            bounds = f"between {low:g} and {high:g}" if high < math.inf else f"at least {low:g}"
            raise self._config_error(f"option {key} = {raw!r} must be a number {bounds}")
        return value


def _words(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        return (str(items),)
    return tuple(w for w in (str(i).strip() for i in items) if w)
