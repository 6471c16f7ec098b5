"""``python -m elshi`` is the ``elshi`` command."""

from elshi.cli import main

main()
