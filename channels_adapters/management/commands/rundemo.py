"""Serve the app and feed it simulated citizens: what `make run` starts."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the development server (ASGI, live updates) with the simulated citizen feed."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None, help="Default: the PORT setting (8000)")
        parser.add_argument(
            "--rate", type=float, default=None,
            help="Simulated messages per second; 0 serves without the feed. Default: DEMO_FEED_RATE (0.2)",
        )
        parser.add_argument(
            "--no-feed", action="store_true",
            help="Serve without the simulated feed (as DEMO_FEED=off does)",
        )

    def handle(self, *args, port, rate, no_feed, **options):
        port = settings.PORT if port is None else port
        rate = feed_rate(rate, no_feed=no_feed)
        feed = None
        if not rate:
            self.stdout.write("Simulated citizen feed: off.")
        else:
            self.stdout.write(
                f"Simulated citizen feed: {rate} messages/s "
                "(make run DEMO_FEED_RATE=..., or DEMO_FEED=off to stop it)."
            )
            feed = subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
                [sys.executable, "manage.py", "simulate_citizens", "--wait",
                 "--url", f"http://127.0.0.1:{port}", "--rate", str(rate)],
            )
        try:
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
        finally:
            if feed is not None:
                feed.terminate()
                feed.wait(timeout=10)


def feed_rate(rate: float | None, *, no_feed: bool = False) -> float:
    """Messages per second of the demo feed, 0 for none: the options, else DEMO_FEED(_RATE)."""
    if no_feed or (rate is None and not settings.DEMO_FEED):
        return 0.0
    rate = settings.DEMO_FEED_RATE if rate is None else rate
    if rate < 0:
        raise CommandError("--rate must be 0 (no feed) or positive")
    return rate
