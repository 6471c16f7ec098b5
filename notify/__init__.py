"""Notifiers: sending one message (an alert, a digest of alerts, a report e-mail) to people, by
e-mail (SMTP), to a Telegram chat (Bot API) or to a signed webhook.

Like ``connectors``, a notifier takes plain values (`Message`) and returns nothing or raises one
error of the taxonomy in `notify.base`; it imports nothing of ours but the one redaction
mechanism (``connectors.redaction``, a leaf module), never reads the database and never decides
what to send or when (``scheduler.alerts`` does). Secrets reach it as values read
from the environment by the caller; no message it raises contains one.
"""
