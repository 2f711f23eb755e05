"""The chaos harness: our own PostgreSQL and Redis, gunicorn, Celery workers, a killer.

Everything here is started by the fixtures in ``conftest.py`` and stopped by them, also on
failure. The servers the tests kill or restart are their OWN instances on free loopback
ports (PostgreSQL through ``initdb``/``pg_ctl`` as the ``postgres`` OS user, Redis with
persistence off): the machine's PostgreSQL and Redis are never touched. Every loop is
bounded in count and in time.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "var" / "chaos"
GUNICORN_CONFIG = ROOT / "docker" / "gunicorn.conf.py"
DATABASE = "chaos"

# Test-only secrets, shared by the servers (environment) and the senders in the test.
SECRETS = {
    "SECRET_KEY": "chaos-only-secret-key-not-for-production-" + "x" * 20,
    "FIELD_ENCRYPTION_KEYS": "ejrXA-qdtWDv1WvdInWK6FKmCOpmJYMl0SJHbwqcIzc=",
    "SIMULATOR_SECRET": "chaos-simulator-secret",
    "X_CONSUMER_SECRET": "chaos-x-consumer-secret",
    "META_APP_SECRET": "chaos-meta-app-secret",
    "META_VERIFY_TOKEN": "chaos-meta-verify-token",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- Servers of our own ----------------------------------------------------------------------


class Postgres:
    """A throwaway cluster in a temp dir owned by ``postgres``, on a free loopback port."""

    def __init__(self, base: Path) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = Path(bins[-1])
        self.base = base
        self.data = base / "pgdata"
        self.log = LOG_DIR / "postgres.log"
        self.port = free_port()

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(argv)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    def init(self) -> None:
        shutil.chown(self.base, "postgres") if os.geteuid() == 0 else None
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")
        shutil.chown(self.log, "postgres") if os.geteuid() == 0 else None
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE)

    def start(self) -> None:
        # fsync off: nothing here survives the machine anyway; every PostgreSQL restart below is
        # a server crash or shutdown, which fsync does not change (the WAL is in the OS cache).
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=100 -c shared_buffers=64MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash (SIGQUIT, recovery at the next start); ``fast`` a clean stop."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                  check=False)

    def running(self) -> bool:
        return self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"


class Redis:
    """redis-server without persistence: a restart loses every queued task, as it may in production."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = LOG_DIR / "redis.log"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.base), "--daemonize", "no"],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        if not wait_until(self._ping, 20, 0.05):
            raise RuntimeError(f"redis-server did not start on {self.port}:\n{_tail(self.log)}")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: with persistence off, everything in it is gone
            self.proc.wait(timeout=10)
        self.proc = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


# --- The application's processes -------------------------------------------------------------


@dataclass
class Proc:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen | None = None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def pool_children(self) -> list[int]:
        if not self.alive():
            return []
        children = []
        for task in Path(f"/proc/{self.popen.pid}/task").glob("*"):
            try:
                children += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
        return children


class Stack:
    """PostgreSQL + Redis of our own, gunicorn and Celery workers, all on loopback."""

    def __init__(self, *, web_workers: int = 2, web_threads: int = 4) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="citizen-inbox-chaos-"))
        os.chmod(self.base, 0o755)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.pg = Postgres(self.base)
        self.redis = Redis(self.base)
        self.web_port = free_port()
        self.fake_x_port = free_port()
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.procs: dict[str, Proc] = {}
        self._db = None
        self._celery = None

    # environment and setup
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "PYTEST"))}
        env.update(SECRETS)
        env.update({
            "DATABASE_URL": self.pg.url(), "REDIS_URL": self.redis.url(0),
            "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_COOKIES": "false", "LOG_LEVEL": "WARNING",
            "X_API_BASE_URL": f"http://127.0.0.1:{self.fake_x_port}",
            # The fake X server's "accepted, then no answer" sleeps past this.
            "PLATFORM_HTTP_TIMEOUT": "2",
            "X_POLL_MIN_INTERVAL_SECONDS": "15",
            "VAR_DIR": str(self.base / "var"), "PYTHONUNBUFFERED": "1",
            "CHANNEL_PREFIX": "chaos", "CACHE_PREFIX": "chaos",
        })
        return env

    def start_servers(self) -> None:
        self.pg.init()
        self.redis.start()
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                       env=self.env(), check=True, timeout=300)

    def control(self, command: str, timeout: float = 600, **kwargs) -> dict:
        """Run one command of tests/chaos/control.py in a Django process on the chaos database."""
        out = subprocess.run(
            [sys.executable, "-m", "tests.chaos.control", command, json.dumps(kwargs)], cwd=ROOT,
            env=self.env(), capture_output=True, text=True, timeout=timeout,
        )
        if out.returncode != 0:
            raise RuntimeError(f"control {command} failed ({out.returncode}):\n{out.stderr[-4000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    # processes
    def _start(self, name: str, argv: Sequence[str]) -> Proc:
        proc = self.procs.get(name) or Proc(name, list(argv), LOG_DIR / f"{name}.log")
        proc.popen = subprocess.Popen(
            proc.argv, cwd=ROOT, env=self.env(), stdout=proc.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_web(self) -> None:
        (LOG_DIR / "web.log").write_text("")
        self._start("web", [
            sys.executable, "-m", "gunicorn", "config.wsgi:application", "--config", str(GUNICORN_CONFIG),
            "--bind", f"127.0.0.1:{self.web_port}", "--workers", str(self.web_workers),
            "--threads", str(self.web_threads), "--worker-class", "gthread",
        ])
        if not wait_until(self._healthy, 60, 0.3):
            raise RuntimeError(f"gunicorn not healthy on {self.web_port}:\n{_tail(LOG_DIR / 'web.log')}")

    def _healthy(self) -> bool:
        if not self.procs["web"].alive():
            raise RuntimeError(f"gunicorn exited:\n{_tail(LOG_DIR / 'web.log')}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def worker_argv(self, name: str) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-n", f"{name}@%h",
            "-Q", "ingest,outbound,default", "--concurrency", "1", "--prefetch-multiplier", "4",
            "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]

    def start_worker(self, name: str) -> Proc:
        if name not in self.procs:
            (LOG_DIR / f"{name}.log").write_text("")  # a new scenario: a new log
        return self._start(name, self.worker_argv(name))

    def workers(self) -> list[Proc]:
        return [p for n, p in self.procs.items() if n.startswith("worker")]

    def kill(self, name: str, *, child_only: bool = False) -> str:
        """SIGKILL a worker: its whole process group (a lost machine) or its pool process only."""
        proc = self.procs[name]
        if not proc.alive():
            return "dead"
        if child_only:
            children = proc.pool_children()
            if children:
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                return "child"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)
        return "group"

    def stop(self, name: str, timeout: float = 20) -> None:
        proc = self.procs.get(name)
        if proc is None or not proc.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=10)

    def stop_workers(self, *, hard: bool = False) -> None:
        for proc in self.workers():
            if hard:
                self.kill(proc.name)
            else:
                self.stop(proc.name)

    def shutdown(self) -> None:
        for name in list(self.procs):
            self.stop(name, timeout=10)
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()
        self.redis.stop()
        self.pg.stop("immediate")
        if not os.environ.get("CHAOS_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)

    def log_since(self, name: str, offset: int) -> list[str]:
        with self.procs[name].log.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()

    def logs(self, lines: int = 30) -> str:
        names = ["web", *[p.name for p in self.workers()]]
        return "\n".join(f"--- {n}.log ---\n{_tail(LOG_DIR / f'{n}.log', lines)}" for n in names)

    # reading the outcome
    def sql(self, query: str, params: Sequence = ()) -> list[tuple]:
        import psycopg2

        for attempt in range(3):
            try:
                if self._db is None or self._db.closed:
                    self._db = psycopg2.connect(host="127.0.0.1", port=self.pg.port, user="postgres",
                                                dbname=DATABASE, connect_timeout=5)
                    self._db.autocommit = True
                with self._db.cursor() as cur:
                    cur.execute(query, params)
                    return cur.fetchall() if cur.description else []
            except psycopg2.OperationalError:
                with contextlib.suppress(Exception):
                    self._db.close()
                self._db = None
                if attempt == 2:
                    raise
                time.sleep(1)
        return []

    def reset(self) -> None:
        """Empty what a scenario fills (CASCADE: and whatever refers to it), keep accounts and teams."""
        self.sql("TRUNCATE inbox_rawevent, inbox_message, inbox_conversation, inbox_contact, inbox_person, "
                 "inbox_auditevent RESTART IDENTITY CASCADE")
        self.sql("UPDATE inbox_channelaccount SET next_poll_at = '2100-01-01T00:00:00Z', cursors = '{}', "
                 "last_error = '', last_error_at = NULL, status = 'active'")

    def scalar(self, query: str, params: Sequence = ()):
        return self.sql(query, params)[0][0]

    # the beat, in the test: tasks sent by name to the chaos broker
    def send_task(self, name: str, args: Sequence = (), queue: str = "default") -> None:
        if self._celery is None:
            from celery import Celery

            self._celery = Celery("chaos-beat", broker=self.redis.url(0))
            self._celery.conf.broker_connection_retry_on_startup = False
        self._celery.send_task(name, args=list(args), queue=queue)

    def redis_flush(self) -> None:
        import redis

        redis.Redis.from_url(self.redis.url(0)).flushdb()


# --- The killer --------------------------------------------------------------------------------


@dataclass
class Killer:
    """Kills a Celery worker with SIGKILL every few seconds and starts it again.

    Mixes killing only a worker's pool process (an OOM kill: the main process sees
    WorkerLostError and starts a new one) and its whole process group (a machine or
    container lost). A worker still booting is left alone until it is ready.
    """

    stack: Stack
    every: tuple[float, float] = (2.0, 4.0)
    seed: int = 12
    kills: list[tuple[float, str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-killer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rng = random.Random(self.seed)
        n = 0
        while not self._stop.wait(rng.uniform(*self.every)):
            workers = self.stack.workers()
            if not workers:
                continue
            target = workers[n % len(workers)]
            if not target.pool_children():
                # Still starting (6 s on a busy 2-core machine): killing it now would test
                # nothing but Celery's start-up. Try the other one next time.
                n += 1
                continue
            # Two pool-process kills (the task's process dies; the worker restarts it in a
            # moment) for one whole-worker kill (the machine is lost; a new worker boots).
            how = self.stack.kill(target.name, child_only=len(self.kills) % 3 != 2)
            self.kills.append((time.monotonic(), target.name, how))
            n += 1
            if how == "group":
                self.stack.start_worker(target.name)
        for proc in self.stack.workers():
            if not proc.alive():
                self.stack.start_worker(proc.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


# --- The platform's side: a sender that retries like a platform -------------------------------


@dataclass
class Delivery:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class SendLog:
    delivered: int = 0  # answered 2xx
    given_up: int = 0  # still failing after every retry (a platform would drop it)
    attempts: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, status) of non-2xx
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: str) -> None:
        with self.lock:
            self.attempts += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status != "200":
                self.errors.append((time.monotonic(), status))


class Sender:
    """Posts deliveries from several threads over keep-alive connections, retrying 5xx and
    connection errors with backoff as X and Meta do, within a bound per delivery."""

    def __init__(self, port: int, *, threads: int = 6, max_tries: int = 40, max_seconds: float = 120) -> None:
        self.port = port
        self.threads = threads
        self.max_tries = max_tries
        self.max_seconds = max_seconds
        self.log = SendLog()
        self.gate = threading.Event()  # cleared: the senders pause before their next delivery
        self.gate.set()

    def _post(self, conn_box: list, delivery: Delivery) -> str:
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn = conn_box[0]
        try:
            conn.request("POST", delivery.path, body=delivery.body, headers=delivery.headers)
            response = conn.getresponse()
            response.read()
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn_box[0] = None
            return str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn_box[0] = None
            return type(exc).__name__

    def deliver(self, delivery: Delivery, conn_box: list) -> bool:
        started = time.monotonic()
        for attempt in range(self.max_tries):
            status = self._post(conn_box, delivery)
            self.log.note(status)
            if status.startswith("2"):
                return True
            if status.startswith("4"):
                return False  # the platforms do not retry a 4xx; it would be our bug
            if time.monotonic() - started > self.max_seconds:
                break
            time.sleep(min(0.1 * 2 ** attempt, 2.0))
        return False

    def run(self, deliveries: Sequence[Delivery], *, on_progress: Callable[[int], None] | None = None) -> SendLog:
        counter = iter(range(len(deliveries)))
        lock = threading.Lock()
        done = [0]

        def client() -> None:
            box: list = [None]
            while True:
                self.gate.wait(120)
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                ok = self.deliver(deliveries[i], box)
                with self.log.lock:
                    if ok:
                        self.log.delivered += 1
                    else:
                        self.log.given_up += 1
                    done[0] += 1
                    n = done[0]
                if on_progress is not None:
                    on_progress(n)

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.log
