"""Time and memory of refusing bad input: every case of the broken-input corpus
(tests/front_door.py) run as a fresh ``elshi`` process, against ``elshi campaign validate`` of a
good file as the baseline, in the same workspace and the same run. Issue 9's bound is 10 s and
1 GiB for ``validate`` on any input. Run:

    python bench/front_door.py [--runs 3] [--check]

Per case: the median wall time, its ratio to the baseline's, and the peak resident memory of the
process (``ru_maxrss`` of the child). ``--check`` exits 1 when a case takes over 10 s or 1 GiB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.campaigns.test_bad_input import GOOD  # noqa: E402
from tests.front_door import GOOD_CAMPAIGN, Case, prepare  # noqa: E402

LIMIT_SECONDS = 10.0
LIMIT_BYTES = 1024**3


def elshi() -> list[str]:
    script = Path(sys.executable).with_name("elshi")
    if script.is_file():
        return [str(script)]
    found = shutil.which("elshi")
    return [found] if found else [sys.executable, "-m", "elshi"]


def probe(args: tuple[str, ...], folder: Path) -> tuple[float, int, int]:
    """Run one case in a small Python process that reports its child's peak memory."""
    code = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        f"done = subprocess.run({[*elshi(), *args]!r}, stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL)\n"
        "seconds = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(seconds, peak * 1024, done.returncode)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (default 3)")
    parser.add_argument("--check", action="store_true", help="exit 1 over 10 s or 1 GiB")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="elshi-front-door-") as name:
        folder = Path(name)
        shutil.copyfile(ROOT / "elshi" / "templates" / "elshi.toml", folder / "elshi.toml")
        cases = prepare(folder, GOOD)
        subprocess.run([*elshi(), "campaign", "apply", GOOD_CAMPAIGN], cwd=folder, check=True)
        baseline = Case("validate (good file)", ("campaign", "validate", GOOD_CAMPAIGN), "", "")
        rows = []
        for case in [baseline, *cases]:
            samples = [probe(case.args, folder) for _ in range(args.runs)]
            seconds = statistics.median(s[0] for s in samples)
            peak = max(s[1] for s in samples)
            rows.append((case.name, seconds, peak, samples[0][2]))
        base = rows[0][1]
        print(f"{'case':58} {'exit':>4} {'s':>6} {'x base':>7} {'peak MB':>8}")
        for label, seconds, peak, code in rows:
            print(
                f"{label[:58]:58} {code:>4} {seconds:6.2f} {seconds / base:7.1f} {peak / 2**20:8.0f}"
            )
        worst_time = max(rows[1:], key=lambda r: r[1])
        worst_memory = max(rows[1:], key=lambda r: r[2])
        print(
            f"\nbaseline {base:.2f} s; slowest: {worst_time[0]} {worst_time[1]:.2f} s "
            f"({worst_time[1] / base:.1f}x); most memory: {worst_memory[0]} "
            f"{worst_memory[2] / 2**20:.0f} MB; {len(rows) - 1} cases, every exit code "
            + ("2" if all(r[3] == 2 for r in rows[1:]) else "NOT 2")
        )
        over = [r for r in rows[1:] if r[1] > LIMIT_SECONDS or r[2] > LIMIT_BYTES]
    return 1 if args.check and over else 0


if __name__ == "__main__":
    raise SystemExit(main())
