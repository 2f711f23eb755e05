"""Serve the app and feed it simulated citizens: what `make run` starts."""

from __future__ import annotations

import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the development server (ASGI, live updates) with the simulated citizen feed."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--rate", type=float, default=0.2, help="Simulated messages per second")
        parser.add_argument("--no-feed", action="store_true", help="Serve without the simulated feed")

    def handle(self, *args, port, rate, no_feed, **options):
        feed = None
        if not no_feed:
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
