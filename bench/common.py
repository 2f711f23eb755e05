"""What the benchmarks share: environment, the bench database, subprocesses, percentiles.

The benchmarks run against the real stack (PostgreSQL, Redis, a Celery worker, a web
server), never against SQLite or eager tasks: an in-process figure says nothing about the
production path. Everything they need is created here, so `make bench` works on a fresh
machine with only PostgreSQL and Redis running.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/citizen_inbox_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_environ() -> dict[str, str]:
    """Production-like settings (DEBUG off) with throwaway secrets for the bench only."""
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env["DEBUG"] = "false"
    env.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-" + "x" * 20)
    # A fixed Fernet key: the bench never stores real credentials.
    env.setdefault("FIELD_ENCRYPTION_KEYS", "ejrXA-qdtWDv1WvdInWK6FKmCOpmJYMl0SJHbwqcIzc=")
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    env.setdefault("SECURE_COOKIES", "false")
    env.setdefault("LOG_LEVEL", "WARNING")
    env.setdefault("CHANNEL_PREFIX", "bench")
    env.setdefault("CACHE_PREFIX", "bench")
    return env


def apply_environ() -> dict[str, str]:
    env = bench_environ()
    os.environ.update(env)
    return env


def database_ensure(database_url: str) -> bool:
    """Create the bench database if it does not exist; True if it was created."""
    import psycopg2
    from psycopg2 import sql

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    conn = psycopg2.connect(
        dbname="postgres", user=url.username or "postgres", password=url.password,
        host=url.hostname or "127.0.0.1", port=url.port or 5432,
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, check=True)


def django_setup() -> None:
    import django

    django.setup()


class Processes:
    """Subprocesses started by a benchmark, each in its own session so it can be ended whole."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("wb")
        proc = subprocess.Popen(
            list(argv), cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append((name, proc))
        return proc

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}; see bench/results/*.log")

    def stop_all(self) -> None:
        # Only the process groups this benchmark started, by their ids.
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a value that happened)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def machine() -> dict:
    info = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


def results_write(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    data = {"benchmark": name, "at": datetime.now(UTC).isoformat(), "machine": machine(), **data}
    path = RESULTS / f"{name}-{stamp}.json"
    text = json.dumps(data, indent=2, default=str)
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    return path


def table(rows: Sequence[tuple[str, str]], title: str) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * len(title)]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(lines)
