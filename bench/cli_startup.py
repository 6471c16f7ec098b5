"""Start-up cost of the CLI: ``elshi --help`` against ``python -c 'import click'``, side by side.

Both commands run as fresh processes, alternating (so a busy machine slows both alike), and the
medians are compared. The budget (issue 2) is ``elshi --help`` at most 2x the bare click import.
Run:

    python bench/cli_startup.py [--runs 20] [--check]

``--check`` exits with status 1 when the ratio is over ``--limit`` (default 2.0).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def elshi_command() -> list[str]:
    """The installed console script next to this interpreter (what users run), else the module."""
    script = Path(sys.executable).with_name("elshi")
    if script.is_file():
        return [str(script), "--help"]
    found = shutil.which("elshi")
    return [found, "--help"] if found else [sys.executable, "-m", "elshi", "--help"]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, list[float]]:
    commands = {
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "elshi --help": elshi_command(),
    }
    for command in commands.values():  # warm the file-system cache and .pyc files
        timed(command)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(timed(command))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    parser.add_argument("--check", action="store_true", help="exit 1 when over --limit")
    parser.add_argument("--limit", type=float, default=2.0, help="allowed ratio (default 2.0)")
    args = parser.parse_args(argv)

    samples = measure(args.runs)
    base, cli = (statistics.median(v) for v in samples.values())
    print(f"{'command':<28} {'median':>9} {'min':>9} {'max':>9}  ({args.runs} alternating runs)")
    for name, values in samples.items():
        print(
            f"{name:<28} {statistics.median(values) * 1000:>7.1f}ms "
            f"{min(values) * 1000:>7.1f}ms {max(values) * 1000:>7.1f}ms"
        )
    ratio = cli / base
    verdict = "ok" if ratio <= args.limit else "OVER"
    print(f"ratio elshi --help / import click: {ratio:.2f} (limit {args.limit:.1f}: {verdict})")
    return 1 if args.check and ratio > args.limit else 0


if __name__ == "__main__":
    sys.exit(main())
