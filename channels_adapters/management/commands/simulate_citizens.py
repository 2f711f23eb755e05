"""Drive the simulated citizen feed against a running server, over HTTP, like a platform."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import requests
from django.core.management.base import BaseCommand, CommandError

from channels_adapters.simulator.deliver import demo_accounts
from channels_adapters.simulator.feed import Feed


class Command(BaseCommand):
    help = "Post realistic citizen messages to the server's webhooks at a steady rate, with bursts."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL of the server")
        parser.add_argument("--rate", type=float, default=0.2, help="Messages per second (steady)")
        parser.add_argument("--duration", type=float, default=0, help="Seconds to run; 0 runs until stopped")
        parser.add_argument("--burst-every", type=float, default=120, help="Seconds between bursts; 0 for none")
        parser.add_argument("--burst-size", type=int, default=8, help="Messages in a burst")
        parser.add_argument("--wait", action="store_true", help="Wait for /healthz before starting")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, url, rate, duration, burst_every, burst_size, wait, seed, **options):
        if rate <= 0:
            raise CommandError("--rate must be positive")
        base = url.rstrip("/")
        session = requests.Session()
        if wait:
            self._wait_for(session, base)
        feed = Feed(seed=seed)
        accounts = demo_accounts(feed)
        if not accounts:
            raise CommandError("No demo channel accounts: run `manage.py seed_demo` first.")
        self.stdout.write(
            f"Simulating citizens at {rate}/s on {len(accounts)} accounts "
            f"({', '.join(sorted({a.platform for a, _ in accounts}))}) -> {base}"
        )
        started = time.monotonic()
        next_burst = started + burst_every if burst_every else float("inf")
        sent = failed = 0
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
                        ok = response.status_code == 200
                    except requests.RequestException:
                        ok = False
                    sent, failed = sent + ok, failed + (not ok)
                time.sleep(feed.rng.expovariate(rate))
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"Delivered {sent} messages ({failed} failed).")

    def _wait_for(self, session: requests.Session, base: str) -> None:
        for _ in range(120):
            try:
                if session.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise CommandError(f"{base}/healthz did not answer")
