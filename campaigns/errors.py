"""The errors of the campaigns package: one root, `CampaignsError`.

::

    CampaignsError
    ├── CampaignInputError   a file, a reference or an argument that cannot be used; nothing
    │   │                    was changed (the CLI exits 2)
    │   ├── YamlError        (yamlsource) syntax, duplicate keys, bad bytes, too large
    │   ├── SheetError       (sheetfiles) a spreadsheet that cannot be imported
    │   ├── TimingError      (timing) a local time that does not exist, a bad offset
    │   ├── ApprovalError    (approval) no such post, or a decision the rules refuse
    │   └── PeopleError      (people) a person who may not do this, is unknown, or bad
    │                        user data (Forbidden, UnknownPerson, BadUserInput)
    ├── TransitionError      (states) a state change the table does not allow
    └── StoreError           the database cannot be opened, read or written (the CLI exits 1)
        └── BusyError        another process holds the lock this one needs (an apply)
"""

from __future__ import annotations


class CampaignsError(Exception):
    """Root of the campaigns package's errors."""


class CampaignInputError(CampaignsError):
    """Bad input: the message says where and what; nothing was changed."""


class StoreError(CampaignsError):
    """The database cannot be used (unreachable, read-only, full, not a database)."""


class BusyError(StoreError):
    """Another process is doing the same thing right now (e.g. applying campaigns)."""
