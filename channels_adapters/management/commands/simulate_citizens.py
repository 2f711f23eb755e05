"""Drive the simulated citizen feed against a running server, over HTTP, like a platform."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from channels_adapters.simulator.deliver import demo_accounts
from channels_adapters.simulator.feed import Feed


class Command(BaseCommand):
    help = "Post realistic citizen messages to the server's webhooks at a steady rate, with bursts."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default=None,
            help="Base URL of the server. Default: http://127.0.0.1:PORT, the demo's port (PORT, 8000)",
        )
        parser.add_argument("--rate", type=float, default=0.2, help="Messages per second (steady)")
        parser.add_argument("--duration", type=float, default=0, help="Seconds to run; 0 runs until stopped")
        parser.add_argument("--burst-every", type=float, default=120, help="Seconds between bursts; 0 for none")
        parser.add_argument("--burst-size", type=int, default=8, help="Messages in a burst")
        parser.add_argument("--wait", action="store_true", help="Wait for /healthz before starting")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, url, rate, duration, burst_every, burst_size, wait, seed, **options):
        if rate <= 0:
            raise CommandError("--rate must be positive")
        base = (url or f"http://127.0.0.1:{settings.PORT}").rstrip("/")
        session = requests.Session()
        if wait:
            self._wait_for(session, base)
        feed = Feed(seed=seed)
        accounts = demo_accounts()
        if not accounts:
            raise CommandError("No demo channel accounts: run `manage.py seed_demo` first.")
        self.stdout.write(
            f"Simulating citizens at {rate}/s on {len(accounts)} accounts "
            f"({', '.join(sorted({a.platform for a, _ in accounts}))}) -> {base}"
        )
        started = time.monotonic()
        next_burst = started + burst_every if burst_every else float("inf")
        sent = 0
        failures: Counter[str] = Counter()
        try:
            while not duration or time.monotonic() - started < duration:
                count = 1
                if time.monotonic() >= next_burst:
                    count, next_burst = burst_size, time.monotonic() + burst_every
                for _ in range(count):
                    account, shape = accounts[feed.rng.randrange(len(accounts))]
                    slug, body, headers = shape(feed.event(datetime.now(UTC)), account)
                    try:
                        response = session.post(f"{base}/webhooks/{slug}/", data=body, headers=headers, timeout=10)
                        reason = None if response.status_code == 200 else _http_reason(response)
                    except requests.RequestException as exc:
                        reason = _network_reason(exc, base)
                    if reason is None:
                        sent += 1
                        continue
                    if reason not in failures:
                        # Say it when it first happens: the feed may run for hours.
                        self.stderr.write(f"Delivery failed: {reason}")
                    failures[reason] += 1
                time.sleep(feed.rng.expovariate(rate))
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"Delivered {sent} messages ({failures.total()} failed).")
        for reason, count in failures.most_common():
            self.stdout.write(f"  {count} × {reason}")

    def _wait_for(self, session: requests.Session, base: str) -> None:
        for _ in range(120):
            try:
                if session.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise CommandError(f"{base}/healthz did not answer")


def _http_reason(response: requests.Response) -> str:
    """The status and the error body, short and stable enough to group failures by."""
    body = response.text or ""
    if "html" in response.headers.get("Content-Type", ""):
        title = re.search(r"<title>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
        body = title.group(1) if title else ""
    body = " ".join(body.split())
    if len(body) > 200:
        body = body[:199] + "…"
    return f"HTTP {response.status_code} {response.reason}" + (f": {body}" if body else "")


def _network_reason(exc: requests.RequestException, base: str) -> str:
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect to {base} (is the server running on that port?)"
    if isinstance(exc, requests.Timeout):
        return f"no answer from {base} within 10 s"
    # Drop object addresses ("at 0x7f..."), so that one cause is counted once.
    return f"{type(exc).__name__}: " + re.sub(r" at 0x[0-9a-f]+", "", str(exc))[:200]
