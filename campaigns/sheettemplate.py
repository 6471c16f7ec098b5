"""Writing an empty content calendar (.xlsx) that `campaigns.spreadsheet` imports: the columns it
reads, drop-down lists for categories, audiences, channels and yes/no, a note on each column
saying what to write, and one example row (replace it, or import it as it is).

With a campaign file, its audiences, their languages (one ``text_LANG`` column each) and its
first day fill the lists and the example; the channels come from the configuration. This module
writes one file and touches nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

from campaigns.definition import Category

NOTES = {
    "id": "A short id for the post: lower-case letters, digits and '-', e.g. nauryz-greeting",
    "category": "The line of work (pick from the list)",
    "audiences": "One or more audience ids, separated by commas",
    "date": "The local day, year first: 2027-03-22 (with a recurrence: its first day)",
    "time": "The local time of day: 10:00 (empty with a recurrence)",
    "event": "Instead of date and time: an event of the campaign file, e.g. nauryz",
    "offset": "With an event: e.g. -1d 09:00 (a day before, at 09:00)",
    "recurrence": "A repeating post: FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0 or cron 0 10 * * MON",
    "until": "With a recurrence: its last day, e.g. 2027-06-30",
    "language": "The language of 'text': de, zh, kk, en, ru ...",
    "text": "The post's text",
    "link": "A web address (https://...); UTM parameters are added for you",
    "media": "Image or video files next to the campaign file, separated by commas",
    "alt": "What the image shows, for people who cannot see it (alt text); with several media "
    "files, one line per file ('-' for none)",
    "channels": "Only these of the audiences' channels (empty: all of them)",
    "reply_to": "The id of the post this one answers (a thread)",
    "variant": "A/B variant tag, e.g. A or B",
    "narrative": "The key idea this post serves (from the campaign file)",
    "timezone": "Only when it differs from the audience's, e.g. Asia/Almaty",
    "hashtags": "no: do not append the brand hashtags",
    "notes": "Anything for the team; not imported",
}


@dataclass(frozen=True)
class TemplateContext:
    """What the template offers: audiences, languages and channels (empty when unknown)."""

    audiences: Sequence[str] = ()
    languages: Sequence[str] = ()
    channels: Sequence[str] = ()
    first_day: date | None = None
    narratives: Sequence[str] = field(default_factory=tuple)


def columns_for(context: TemplateContext) -> list[str]:
    texts = [f"text_{lang}" for lang in context.languages] or ["language", "text"]
    alts = [f"alt_{lang}" for lang in context.languages] or ["alt"]
    return [
        "id",
        "category",
        "audiences",
        "date",
        "time",
        "event",
        "offset",
        "recurrence",
        "until",
        *texts,
        "link",
        "media",
        *alts,
        "channels",
        "reply_to",
        "variant",
        "narrative",
        "timezone",
        "hashtags",
        "notes",
    ]


def write_template(path: Path, context: TemplateContext) -> list[str]:
    """Write the template to ``path``; returns its columns."""
    import xlsxwriter

    columns = columns_for(context)
    book = xlsxwriter.Workbook(str(path))
    try:
        posts = book.add_worksheet("Posts")
        lists = book.add_worksheet("Lists")
        bold = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        clock = book.add_format({"num_format": "hh:mm"})
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        choices = {
            "category": [c.value for c in Category],
            "audiences": list(context.audiences),
            "channels": list(context.channels),
            "narrative": list(context.narratives),
            "hashtags": ["yes", "no"],
        }
        for index, (name, listed) in enumerate(choices.items()):
            lists.write(0, index, name, bold)
            for row, item in enumerate(listed, start=1):
                lists.write_string(row, index, item)
        lists.hide()
        for index, name in enumerate(columns):
            posts.write_string(0, index, name, bold)
            note = NOTES.get(name) or NOTES["alt" if name.startswith("alt") else "text"]
            posts.write_comment(0, index, note, {"x_scale": 2})
            posts.set_column(index, index, 40 if name.startswith("text") else 16)
            values = choices.get(name)
            if values:
                letter = chr(ord("A") + list(choices).index(name))
                several = name in ("audiences", "channels")
                posts.data_validation(
                    1,
                    index,
                    1000,
                    index,
                    {
                        "validate": "list",
                        "source": f"=Lists!${letter}$2:${letter}${len(values) + 1}",
                        # Several values are typed with commas, which a strict list refuses.
                        "error_type": "information" if several else "stop",
                        "input_title": name,
                        "input_message": NOTES[name][:255],
                    },
                )
        posts.freeze_panes(1, 1)
        example = _example(context, columns)
        for index, name in enumerate(columns):
            cell = example.get(name)
            if isinstance(cell, date):
                posts.write_datetime(1, index, _midnight(cell), day)
            elif isinstance(cell, time):
                posts.write_datetime(1, index, cell, clock)
            elif cell is not None:
                posts.write_string(1, index, str(cell), wrap)
        posts.activate()
    finally:
        book.close()
    return columns


def _midnight(day: date) -> object:
    from datetime import datetime

    return datetime.combine(day, time(0, 0))


def _example(context: TemplateContext, columns: Sequence[str]) -> dict[str, object]:
    first = context.first_day or date(date.today().year + 1, 3, 20)
    row: dict[str, object] = {
        "id": "example-post",
        "category": Category.cultural_event.value,
        "audiences": context.audiences[0] if context.audiences else "public",
        "date": first,
        "time": time(10, 0),
        "notes": "An example: replace this row with your first post",
    }
    text = "Write the post here. Hashtags and the link are added for you."
    for name in columns:
        if name.startswith("text_"):
            row[name] = text
    if "text" in columns:
        row["text"] = text
        row["language"] = context.languages[0] if context.languages else "de"
    return row
