"""Campaigns: the definition format PR staff write (YAML, validated with file:line errors), the SQL
store (SQLAlchemy 2 typed models and Alembic migrations), planning and applying a definition to
the database (idempotent, never rewriting what was published), approval, spreadsheet import and
calendar export. Imports nothing else of ours; knows nothing about platforms beyond the text
rules each one imposes.
"""

MAX_ROW_ID = 2**31 - 1
"""The largest id a person may give for a row (an address, a form, a command-line argument):
the rows people name (deliveries, posts, pauses, tokens, uploads, audiences) have ``Integer``
ids, 32-bit on PostgreSQL, where SQLAlchemy casts a parameter to the column's type and a larger
number fails the query ("integer out of range"; on SQLite, past 2**63, the driver overflows).
A larger number names no row, and is refused before it reaches a query."""
