"""What the benchmarks share: a fresh database per run, seeding approved deliveries, an
``elshi.toml`` for Mastodon emulators, starting and stopping ``elshi run`` as a child process
(this tree's code, or a *baseline* tree exported from git: "today's" code measured in the same
run), reading a process's CPU time and memory from /proc, the Mastodon emulators, percentiles.
Not a benchmark itself."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # tests.scheduler.harness, when run as a script
    sys.path.insert(0, str(ROOT))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN_ENV = "ELSHI_BENCH_MASTODON_TOKEN"


@contextmanager
def database(kind: str, root: Path, *, name: str = "elshi", admin: str = PG_ADMIN) -> Iterator[str]:
    """A fresh database: a SQLite file under ``root``, or a PostgreSQL database created for the
    run (``elshi_bench_<random>``) and dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{root / f'{name}.db'}"
        return
    import psycopg

    db = f"elshi_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{db}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@contextmanager
def baseline_tree(ref: str | None) -> Iterator[Path | None]:
    """The code of git ``ref`` (e.g. the commit before a change), exported to a temporary
    folder, to run "today's" daemon beside this tree's in one run; None without a ref."""
    if not ref:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="elshi-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def seed(
    db_url: str,
    channels: Sequence[str],
    dues: Sequence[datetime],
    *,
    prefix: str,
    platform: str = "mastodon",
    tree: Path | None = None,
) -> float:
    """Approved deliveries on ``channels`` (all of ``platform``), with the seeding helper of
    ``tree`` (its own schema) or of this tree; see tests/scheduler/harness.py
    `seed_deliveries`. Returns the seconds it took."""
    if tree is None:
        from tests.scheduler.harness import seed_deliveries

        return seed_deliveries(db_url, dict.fromkeys(channels, platform), dues, prefix=prefix)
    plan = {
        "url": db_url,
        "platforms": dict.fromkeys(channels, platform),
        "dues": [d.isoformat() for d in dues],
        "prefix": prefix,
    }
    script = (
        "import json, sys; from datetime import datetime; "
        "from tests.scheduler.harness import seed_deliveries; "
        "a = json.loads(sys.stdin.read()); "
        "print(seed_deliveries(a['url'], a['platforms'], "
        "[datetime.fromisoformat(d) for d in a['dues']], prefix=a['prefix']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
        env=child_env(tree),
    )
    return float(out.stdout.strip().splitlines()[-1])


def write_config(
    root: Path,
    db_url: str,
    channels: dict[str, str],
    *,
    workers: int,
    rate: str = "600/m",
    daemon: dict[str, str] | None = None,
) -> Path:
    """elshi.toml for Mastodon ``channels`` (name → instance URL), the token in TOKEN_ENV."""
    lines = ["[database]", f'url = "{db_url}"', "", "[daemon]", f"workers = {workers}"]
    lines += [f'{k} = "{v}"' for k, v in (daemon or {}).items()]
    lines += ["", "[metrics]", 'schedule = ["30d"]', ""]
    for name, url in channels.items():
        lines += [
            f"[channels.{name}]",
            'platform = "mastodon"',
            f'api_base_url = "{url}"',
            f'token_env = "{TOKEN_ENV}"',
            f'rate = "{rate}"',
            "timeout = 10",
            "",
        ]
    path = root / "elshi.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def child_env(tree: Path | None = None) -> dict[str, str]:
    """The environment of a child process: the emulators' token; ``tree``'s code first, else
    this checkout's (not the copy of Elshi installed in the environment, which may be an
    editable install of another checkout: a bench run from a git worktree ran main's daemon
    as "this tree" without it)."""
    from connectors.testing.mastodon import DEFAULT_TOKEN

    env = dict(os.environ)
    env.pop("ELSHI_DATABASE_URL", None)
    env.pop("ELSHI_CONFIG", None)
    env[TOKEN_ENV] = DEFAULT_TOKEN
    env["PYTHONPATH"] = str(tree if tree is not None else ROOT)
    return env


def start_daemon(config: Path, log: Path, *, tree: Path | None = None) -> subprocess.Popen[bytes]:
    """``elshi run`` with ``config`` (this tree's code, or ``tree``'s), output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "elshi", "--config", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(tree),
            cwd=tree or config.parent,
        )


def stop(
    proc: subprocess.Popen[Any], *, timeout: float = 30.0, signal: int = signal.SIGTERM
) -> int:
    if proc.poll() is None:
        proc.send_signal(signal)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def profile(pid: int, out: Path, *, gil: bool = False) -> subprocess.Popen[bytes] | None:
    """Sample process ``pid`` with py-spy (``pip install py-spy``) into ``out`` (collapsed
    stacks, 200 samples a second of every thread, without pausing the process: pausing it
    distorts a run of 50 threads several times over) until :func:`stop`; None, with a note on
    stderr, when py-spy is not installed. Without pausing, py-spy cannot tell a waiting thread
    from a running one: :func:`profile_top` sets apart the samples whose innermost frame is a
    wait. ``gil``: only the samples of the thread holding the GIL (py-spy ``--gil``): where
    the interpreter's CPU goes, without threads waiting for their turn at it."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy not found: no profile (pip install py-spy)", file=sys.stderr)
        return None
    command = [spy, "record", "--pid", str(pid), "--format", "raw", "--nonblocking"]
    command += ["--rate", "200", "--output", str(out)] + (["--gil"] if gil else [])
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=(out.with_suffix(".log")).open("ab")
    )


WAITS = (
    "Condition.wait (threading.py)",
    "Event.wait (threading.py)",
    "_worker (concurrent/futures/thread.py)",
    "SocketIO.readinto (socket.py)",
    "poll_wait_for_socket.<locals>.do_poll (urllib3/util/wait.py)",
    "Connection.wait (psycopg/connection.py)",
    "Handler.acquire (logging/__init__.py)",
    "Thread._wait_for_tstate_lock (threading.py)",
    "Writer._loop (scheduler/writer.py)",
    "QueueListener.dequeue (logging/handlers.py)",
)
"""Innermost frames of a thread that waits (a condition, a socket, a lock, an idle pool thread)."""


def profile_top(raw: Path, top: int = 15) -> list[str]:
    """The ``top`` functions of a py-spy raw profile by own samples (the innermost frame) and
    by samples under them (inclusive), as lines of text, threads merged, samples of waiting
    threads (:data:`WAITS`) counted apart."""
    own: dict[str, int] = {}
    under: dict[str, int] = {}
    total = waiting = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        if frames[-1].startswith(WAITS):
            waiting += n
            continue
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            under[frame] = under.get(frame, 0) + n
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples of running threads ({waiting} more of waiting ones); own:"]
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {n / total:6.1%}  {frame}")
    lines.append("inclusive (this function and what it calls):")
    for frame, n in sorted(under.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {n / total:6.1%}  {frame}")
    return lines


def _short(frame: str) -> str:
    """``func (path/to/site-packages/pkg/mod.py:12)`` → ``func (pkg/mod.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(url: str) -> dict[int, float]:
    """PostgreSQL: CPU seconds so far of each server process connected to ``url``'s database
    (pid → seconds; the server runs on this machine), not counting this query's own. Empty
    for SQLite. A backend that exits between two readings is not counted (the daemons keep
    their pooled connections open)."""
    if not url.startswith("postgresql"):
        return {}
    import psycopg

    db = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("+psycopg", "", 1)) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (db,),
            )
        ]
    times = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # exited meanwhile
            times[pid] = cpu_seconds(pid)
    return times


def server_cpu_since(url: str, before: dict[int, float]) -> float:
    """`server_cpu` of ``url`` now less ``before`` (a backend that started since counts whole);
    NaN for SQLite."""
    if not url.startswith("postgresql"):
        return math.nan
    return sum(t - before.get(pid, 0.0) for pid, t in server_cpu(url).items())


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` (/proc/PID/status VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..1)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1))]


def sleep_until(moment: datetime) -> None:
    delay = (moment - datetime.now(moment.tzinfo)).total_seconds()
    if delay > 0:
        time.sleep(delay)


class Emulators:
    """One Mastodon emulator per channel, in this process."""

    def __init__(self, channels: int, latency: float) -> None:
        from connectors.testing.mastodon import MastodonEmulator

        self.items = [
            MastodonEmulator(latency=latency, username=f"c{i:02d}") for i in range(channels)
        ]

    def __enter__(self) -> Emulators:
        for emulator in self.items:
            emulator.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for emulator in self.items:
            emulator.stop()

    @property
    def channels(self) -> dict[str, str]:
        return {f"c{i:02d}": e.url for i, e in enumerate(self.items)}

    def posts(self, prefix: str) -> list[tuple[str, datetime]]:
        """(text, stored at) of every status whose text starts with ``prefix``."""
        found = []
        for emulator in self.items:
            with emulator._lock:
                found += [
                    (p["text"], p["created_at"])
                    for p in emulator.posts
                    if p["text"].startswith(prefix + " ")
                ]
        return found

    def forget_requests(self) -> None:
        for emulator in self.items:
            with emulator._lock:
                emulator.requests.clear()
                emulator.posts.clear()
