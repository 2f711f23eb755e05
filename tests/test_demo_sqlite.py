"""`make run`'s embedded default: the demo on SQLite, seeded and ingesting (not PostgreSQL).

The rest of the suite runs on PostgreSQL, where raw SQL written for it passes; this runs the
demo's own commands in a subprocess with no DATABASE_URL, as `make run` does, so SQL that
SQLite cannot run fails here instead of in a newcomer's first minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(var_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update({"DEBUG": "true", "VAR_DIR": str(var_dir), "DEMO_PASSWORD": "citizen-inbox-demo"})
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_demo_seeds_and_ingests_every_channel_on_sqlite(tmp_path):
    _manage(tmp_path, "migrate", "--noinput")
    _manage(tmp_path, "seed_demo", "--history", "40")
    counts = json.loads(_manage(tmp_path, "shell", "-c", (
        "import json; from inbox.models import Conversation, Message, RawEvent;"
        "print(json.dumps({'conversations': Conversation.objects.count(),"
        " 'routed': Conversation.objects.exclude(team=None).count(),"
        " 'platforms': sorted(set(Conversation.objects.values_list('account__platform', flat=True))),"
        " 'unprocessed': RawEvent.objects.filter(processed_at=None).count(),"
        " 'inbound': Message.objects.filter(direction='in').count()}))"
    )).strip().splitlines()[-1])
    assert (tmp_path / "db.sqlite3").exists()
    assert counts["inbound"] >= 40 and counts["conversations"] > 0
    assert counts["routed"] == counts["conversations"]
    assert counts["unprocessed"] == 0
    assert len(counts["platforms"]) >= 3, counts
