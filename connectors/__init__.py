"""Platform connectors: one narrow `Connector` interface (``base``), one module per platform
(``x``, ``telegram``, ``mastodon``, ``bluesky``, ``sandbox``) built on the platform's real client
library, and the ``registry`` that maps a channel's ``platform`` setting to its connector.
Connectors receive plain values and return plain values or raise one of the error taxonomy's
exceptions; they know nothing about the database, campaigns or the scheduler, and import nothing
else of ours. ``connectors.testing`` holds local HTTP emulators of each platform's wire format.
"""
