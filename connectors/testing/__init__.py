"""Local HTTP emulators of each platform's wire format, for tests, benchmarks and demos.

Each emulator is a real HTTP server on 127.0.0.1 that the real client library talks to through its
own base-URL setting. It keeps every post it accepted (so a test can assert "published exactly
once" from the platform's side) and injects faults on demand. Nothing here is imported by the
product at run time.
"""
