"""The two baselines of bench/dispatch.py, each run as a child process:

* ``run``: what a user might write instead of Elshi: one APScheduler 3 ``date`` job per post in
  APScheduler's own ``SQLAlchemyJobStore``, each job calling Mastodon.py's ``status_post``.
  Defaults except two, both in the naive way's favour: the executor has ``--threads`` threads
  (default 10) and ``misfire_grace_time`` is 15 minutes (the default, 1 s, silently skips a job
  that starts more than a second late). Prints one JSON line when the jobs are stored, and one
  with the counts of missed and failed jobs after SIGTERM.
* ``capacity``: the emulators' capacity: ``--posts`` statuses with Mastodon.py from ``--threads``
  threads, no scheduler and no database; prints ``{"posts", "seconds", "cpu", "errors"}``.

Not meant to be run by hand; see bench/dispatch.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TOKEN_ENV = "ELSHI_BENCH_MASTODON_TOKEN"
_local = threading.local()


def client(url: str) -> Any:
    """This thread's Mastodon.py client for ``url`` (built once, as a user would cache it)."""
    from mastodon import Mastodon

    clients: dict[str, Any] = _local.__dict__.setdefault("clients", {})
    if url not in clients:
        clients[url] = Mastodon(access_token=os.environ[TOKEN_ENV], api_base_url=url)
    return clients[url]


def post_status(url: str, text: str) -> None:
    """The job: publish ``text`` on the instance at ``url``."""
    client(url).status_post(text)


def run(args: argparse.Namespace) -> int:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
    counts = {"missed": 0, "errors": 0}
    lock = threading.Lock()

    def listen(event: JobExecutionEvent) -> None:
        with lock:
            counts["missed" if event.code == EVENT_JOB_MISSED else "errors"] += 1

    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=args.db)},
        executors={"default": ThreadPoolExecutor(args.threads)},
        job_defaults={"misfire_grace_time": 900},
        timezone="UTC",
    )
    scheduler.add_listener(listen, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    started = time.perf_counter()
    scheduler.start(paused=True)
    for job in plan:
        scheduler.add_job(
            post_status,
            "date",
            run_date=datetime.fromisoformat(job["due"]),
            args=[job["url"], job["text"]],
            id=job["id"],
        )
    ready = {"seconds": time.perf_counter() - started, "ready_at": datetime.now(UTC).isoformat()}
    print(json.dumps(ready), flush=True)
    scheduler.resume()
    stopping.wait()
    scheduler.shutdown(wait=True)
    print(json.dumps(counts), flush=True)
    return 0


def capacity(args: argparse.Namespace) -> int:
    urls: list[str] = json.loads(Path(args.urls).read_text(encoding="utf-8"))
    errors = 0
    lock = threading.Lock()
    barrier = threading.Barrier(args.threads + 1)

    def work(index: int) -> None:
        nonlocal errors
        mine = [
            (urls[i % len(urls)], f"capacity post {i}")
            for i in range(index, args.posts, args.threads)
        ]
        for url in {u for u, _ in mine}:
            client(url)
        barrier.wait()
        for url, text in mine:
            try:
                post_status(url, text)
            except Exception:
                with lock:
                    errors += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"posts": args.posts, "seconds": seconds, "cpu": cpu, "errors": errors}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("--db", required=True, help="SQLAlchemy URL of the job store")
    one.add_argument("--plan", required=True, help="JSON list of {id, url, text, due}")
    one.add_argument("--threads", type=int, default=10)
    cap = sub.add_parser("capacity")
    cap.add_argument("--urls", required=True, help="JSON list of instance URLs")
    cap.add_argument("--threads", type=int, default=10)
    cap.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else capacity(args)


if __name__ == "__main__":
    sys.exit(main())
