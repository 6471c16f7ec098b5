"""What each platform takes as media: how many files, of which types, how large.

One table, read by the campaign validator (so `elshi campaign validate` refuses a 200 MB image,
a text file named .png, a video for a channel that takes none, or ten images where a platform
takes four) and kept in step with the connectors' own checks at publish time by a test
(connectors import nothing of ours, as with ``campaigns.textrules``). The figures are those of
the platforms' documentation for the kinds of upload each of our connectors makes:

* X: up to 4 images (JPEG, PNG, WebP up to 5 MB; GIF up to 15 MB); the connector uploads
  images only (v1.1 ``media/upload``), so no video.
* Mastodon: up to 4 attachments, images up to 16 MB or one video up to 99 MB (not mixed).
* Bluesky: up to 4 images of at most 1,000,000 bytes each (the PDS's blob limit for posts).
* Telegram: an album of up to 10 photos and videos; photos up to 10 MB, videos up to 50 MB
  (the Bot API's upload limit).
* Weibo: one picture (the share API), JPEG, PNG or GIF up to 5 MB.
* WeChat: one cover image, JPEG or PNG up to 10 MB.
* LinkedIn: up to 20 images, JPEG, PNG or GIF, up to 8 MB.
* Threads: up to 20 images (a carousel), JPEG or PNG up to 8 MB.
* sandbox: up to 10 files of any kind below; images up to 20 MB, videos up to 200 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024
JPEG, PNG, GIF, WEBP = "image/jpeg", "image/png", "image/gif", "image/webp"
MP4, MOV = "video/mp4", "video/quicktime"
IMAGES = frozenset({JPEG, PNG, GIF, WEBP})
VIDEOS = frozenset({MP4, MOV})
KINDS = IMAGES | VIDEOS
"""Every type Elshi stores and publishes (recognised by content, never by file name)."""
EXTENSIONS = {JPEG: ".jpg", PNG: ".png", GIF: ".gif", WEBP: ".webp", MP4: ".mp4", MOV: ".mov"}
NAMES = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF", WEBP: "WebP", MP4: "MP4", MOV: "QuickTime"}

MAX_FILE_BYTES = 200 * MB
"""No platform we publish to takes a larger file; larger ones are refused before hashing."""


@dataclass(frozen=True)
class MediaRule:
    platform: str
    max_items: int
    kinds: frozenset[str]
    max_image_bytes: int
    max_video_bytes: int = 0
    max_videos: int = 0
    mixed: bool = False
    """Whether images and videos may be attached together."""
    max_gif_bytes: int | None = None

    def limit_for(self, kind: str) -> int:
        if kind == GIF and self.max_gif_bytes is not None:
            return self.max_gif_bytes
        return self.max_video_bytes if kind in VIDEOS else self.max_image_bytes


RULES: dict[str, MediaRule] = {
    "x": MediaRule("x", 4, frozenset({JPEG, PNG, GIF, WEBP}), 5 * MB, max_gif_bytes=15 * MB),
    "mastodon": MediaRule("mastodon", 4, KINDS, 16 * MB, 99 * MB, max_videos=1),
    "bluesky": MediaRule("bluesky", 4, frozenset({JPEG, PNG, GIF, WEBP}), 1_000_000),
    "telegram": MediaRule("telegram", 10, KINDS, 10 * MB, 50 * MB, max_videos=10, mixed=True),
    "weibo": MediaRule("weibo", 1, frozenset({JPEG, PNG, GIF}), 5 * MB),
    "wechat": MediaRule("wechat", 1, frozenset({JPEG, PNG}), 10 * MB),
    "linkedin": MediaRule("linkedin", 20, frozenset({JPEG, PNG, GIF}), 8 * MB),
    "threads": MediaRule("threads", 20, frozenset({JPEG, PNG}), 8 * MB),
    "sandbox": MediaRule("sandbox", 10, KINDS, 20 * MB, 200 * MB, max_videos=10, mixed=True),
}


def rule_for(platform: str) -> MediaRule:
    return RULES.get(platform, RULES["sandbox"])


def size(count: int) -> str:
    """``1.5 MB``, ``900 KB``, ``12 bytes`` (as a person would say it)."""
    if count >= MB:
        return f"{count / MB:.1f} MB"
    if count >= 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count} bytes"


def problems(platform: str, files: list[tuple[str, str, int]]) -> list[tuple[int | None, str]]:
    """What ``platform`` would refuse in a post's media ``files`` ((name, kind, size) each), as
    (index of the file or None for the whole list, message)."""
    rule = rule_for(platform)
    out: list[tuple[int | None, str]] = []
    for index, (name, kind, count) in enumerate(files):
        if kind not in rule.kinds:
            what = "a video" if kind in VIDEOS else f"a {NAMES.get(kind, kind)} image"
            takes = ", ".join(sorted(NAMES[k] for k in rule.kinds))
            out.append((index, f"{name} is {what}, which {platform} does not take ({takes})"))
        elif count > rule.limit_for(kind):
            out.append(
                (
                    index,
                    f"{name} is {size(count)}; {platform} takes "
                    f"{'videos' if kind in VIDEOS else 'images'} up to {size(rule.limit_for(kind))}",
                )
            )
    if len(files) > rule.max_items:
        out.append(
            (None, f"{len(files)} media files; {platform} takes at most {rule.max_items} a post")
        )
    videos = sum(1 for _, kind, _ in files if kind in VIDEOS and kind in rule.kinds)
    if rule.max_videos and videos > rule.max_videos:
        out.append((None, f"{videos} videos; {platform} takes at most {rule.max_videos} a post"))
    if videos and not rule.mixed and videos < len(files):
        out.append((None, f"{platform} does not take images and a video in one post"))
    return out
