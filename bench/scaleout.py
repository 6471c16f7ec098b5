"""Scale-out: one daemon against three on one PostgreSQL database, with the platform as the
bottleneck: ``--count`` deliveries due at once over ``--channels`` Mastodon channels whose
emulators answer in ``--latency`` seconds (200 ms by default), each daemon with its default
``workers`` (8 channels published at a time). One daemon can then send at most about
workers / latency posts a second; more daemons should add their threads. Throughput is posts
over (last publication - first due time), read from the emulators' records, which also show
duplicates. With ``--baseline REF`` the daemon of git REF ("today") is measured the same way.
Run (about 4 minutes with the defaults on a shared 2-core machine):

    python bench/scaleout.py [--daemons 1,3] [--count 2000] [--channels 100] [--latency 0.2]
        [--baseline REF]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from bench.common import (  # noqa: E402 - after the path is set
    Emulators,
    baseline_tree,
    cpu_seconds,
    database,
    seed,
    sleep_until,
    start_daemon,
    stop,
    write_config,
)


def run(
    daemons: int,
    root: Path,
    emulators: Emulators,
    args: argparse.Namespace,
    *,
    way: str,
    tree: Path | None,
) -> dict[str, float]:
    tag = f"{way.split()[0]}-{daemons}"
    with database("postgres", root, name=tag) as url:
        due = datetime.now(UTC) + timedelta(seconds=args.lead)
        seed(url, list(emulators.channels), [due] * args.count, prefix=tag, tree=tree)
        config = write_config(root, url, emulators.channels, workers=args.workers)
        procs = [
            start_daemon(config, root / f"daemon-{tag}-{i}.log", tree=tree) for i in range(daemons)
        ]
        sleep_until(due - timedelta(seconds=1))
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and len(emulators.posts(tag)) < args.count:
            time.sleep(0.2)
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        for proc in procs:
            stop(proc)
        posts = emulators.posts(tag)
    texts = Counter(text for text, _ in posts)
    last = max((at for _, at in posts), default=None)
    seconds = (last - due).total_seconds() if last else math.nan
    buckets = Counter(int((at - due).total_seconds() // args.bucket) for _, at in posts)
    timeline = " ".join(str(buckets.get(i, 0)) for i in range(max(buckets, default=-1) + 1))
    print(
        f"  {way}, {daemons} daemon(s): posts per {args.bucket:g} s from the due time: {timeline}"
    )
    return {
        "daemons": daemons,
        "published": len(texts),
        "duplicates": sum(n - 1 for n in texts.values()),
        "seconds": seconds,
        "throughput": len(texts) / seconds if seconds and seconds > 0 else math.nan,
        "cpu_ms": cpu / max(len(texts), 1) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daemons", default="1,3")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2, help="emulator answer delay (s)")
    parser.add_argument("--workers", type=int, default=8, help="each daemon's publish threads")
    parser.add_argument("--lead", type=float, default=20.0, help="s from seeding to the due time")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--bucket", type=float, default=2.0, help="s per step of the timeline")
    parser.add_argument("--baseline", metavar="REF", help="also run the daemons of git REF")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.daemons.split(",")]

    started = time.monotonic()
    results: list[tuple[str, dict[str, float]]] = []
    with (
        TemporaryDirectory(prefix="elshi-scaleout-") as tmp,
        Emulators(args.channels, args.latency) as emulators,
        baseline_tree(args.baseline) as tree,
    ):
        ways: list[tuple[str, Path | None]] = [("elshi run", None)]
        if tree is not None:
            ways.insert(0, (f"today ({args.baseline})", tree))
        for way, code in ways:
            for n in counts:
                results.append((way, run(n, Path(tmp), emulators, args, way=way, tree=code)))
                emulators.forget_requests()

    print(
        f"{args.count} deliveries due at once on {args.channels} Mastodon emulators answering in "
        f"{args.latency * 1000:g} ms; PostgreSQL; {args.workers} publish threads per daemon; "
        "a shared 2-core machine"
    )
    header = (
        f"{'way':23} {'daemons':>7} {'published':>9} {'dup':>4} {'seconds':>8} {'posts/s':>8} "
        f"{'x one':>6} {'CPU ms/post':>11}"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    for way in dict.fromkeys(w for w, _ in results):
        mine = [r for w, r in results if w == way]
        one = next((r["throughput"] for r in mine if r["daemons"] == 1), math.nan)
        for r in mine:
            print(
                f"{way:23} {r['daemons']:>7.0f} {r['published']:>5.0f}/{args.count:<4}"
                f"{r['duplicates']:>4.0f} {r['seconds']:>8.1f} {r['throughput']:>8.1f} "
                f"{r['throughput'] / one:>6.2f} {r['cpu_ms']:>11.2f}"
            )
            if r["daemons"] == 3 and way == "elshi run":
                ratio = r["throughput"] / one
                verdicts.append(
                    f"3 daemons reach {ratio:.2f}x one daemon "
                    f"({'meets' if ratio >= 2.5 else 'MISSES'} the aim of 2.5x)"
                )
    once = all(r["published"] == args.count and r["duplicates"] == 0 for _, r in results)
    verdicts.append(f"every delivery published once: {'yes' if once else 'NO'}")
    print("verdict: " + "; ".join(verdicts) + f"; took {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
