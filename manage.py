#!/usr/bin/env python
from __future__ import annotations

import os
import sys
from pathlib import Path

# `make run` writes the demo's settings here (DEBUG, the SQLite directory, the port, the
# feed), so `manage.py <command>` works against the demo without repeating them. Variables
# already in the environment win. Only manage.py reads it: the test suite and the servers
# of a deployment never depend on a file the demo left behind.
DEMO_ENV_FILE = Path(__file__).resolve().parent / ".env.demo"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.env import load_env_file

    load_env_file(DEMO_ENV_FILE)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
