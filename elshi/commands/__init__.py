"""The ``elshi`` command groups, one module each; every module imports only click and the
standard library at load time."""
