"""The ``elshi`` command: click glue over campaigns, connectors, scheduler and reports, plus the one
configuration loader (elshi.toml and environment) and logging set-up."""

__version__ = "0.1.0"
