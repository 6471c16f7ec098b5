"""The errors of the scheduler package: one root, `SchedulerError`.

::

    SchedulerError
    ├── OperationError        an operator's request that cannot be done (no such delivery, a
    │                         state that does not allow it); nothing was changed (CLI exit 2)
    └── UnknownChannelError   a delivery's channel is no longer configured
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Root of the scheduler package's errors."""


class OperationError(SchedulerError, ValueError):
    """An operator's request refused: the message says why and what to do instead."""


class UnknownChannelError(SchedulerError, LookupError):
    """A channel named by a delivery is not in the configuration."""
