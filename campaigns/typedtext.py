"""Text a person types into a form, the API or an option and Elshi keeps: a comment, a reason,
a name. One check (`problem`), called by the functions of ``campaigns`` and ``scheduler`` that
store such text, so the web workspace, the JSON API and the command line refuse the same
things: control characters (a NUL, which PostgreSQL cannot store; a terminal escape, which
would reach every screen that shows the text), lone surrogates (which no database encodes), and
more than a limit. Campaign files and spreadsheets have their own, located checks
(`campaigns.yamlsource`); this module must not do I/O."""

from __future__ import annotations

from campaigns.yamlsource import control_character

COMMENT = 2000
"""Characters in an approval's comment."""
REASON = 1000
"""Characters in the reason of a pause or a cancellation."""
NAME = 200
"""Characters in a name: a person's, a token's."""
REMOTE_ID = 200
"""Characters in a post's remote id an operator gives when settling a delivery by hand."""


def problem(text: str, what: str, *, limit: int, one_line: bool = False) -> str | None:
    """What is wrong with ``text`` (already stripped) as ``what``, or None when it may be kept.
    ``one_line``: tabs and line breaks are refused too (a name)."""
    if len(text) > limit:
        return f"{what} is too long: at most {limit:,} characters ({len(text):,} given)"
    found = control_character(text)
    if found is None and one_line:
        index = next((i for i, c in enumerate(text) if c in "\t\n\r\u2028\u2029"), None)
        if index is not None:
            found = (index, f"U+{ord(text[index]):04X} (a line break or tab)")
    if found is not None:
        index, name = found
        return f"{what}: {name} at character {index + 1} is not allowed; delete it"
    return None
