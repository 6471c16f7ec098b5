"""The daemon: claims due deliveries from the database, publishes them through connectors exactly
once, retries with backoff, respects per-channel rates, reconciles after crashes, marks missed
posts, and runs metric collection rounds. APScheduler drives time; the database decides what is
due. May import ``campaigns`` (schema and sessions) and ``connectors``; nothing imports it but the
CLI.
"""
