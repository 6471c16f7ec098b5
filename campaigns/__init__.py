"""Campaigns: the definition format PR staff write (YAML, validated with file:line errors), the SQL
store (SQLAlchemy 2 typed models and Alembic migrations), planning and applying a definition to
the database (idempotent, never rewriting what was published), approval, spreadsheet import and
calendar export. Imports nothing else of ours; knows nothing about platforms beyond the text
rules each one imposes.
"""
