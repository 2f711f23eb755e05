"""Settings helpers fail at start-up on bad values; secrets are encrypted at rest."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config.env import env_bool, env_float, env_int, env_list, env_str, load_env_file
from inbox.models import ChannelAccount


def test_env_helpers_parse_and_reject(monkeypatch, tmp_path):
    monkeypatch.setenv("CI_FLAG", "yes")
    monkeypatch.setenv("CI_NUM", "42")
    monkeypatch.setenv("CI_LIST", "a.example, b.example ,")
    assert env_bool("CI_FLAG") is True
    assert env_int("CI_NUM", 1) == 42
    assert env_list("CI_LIST") == ["a.example", "b.example"]
    monkeypatch.setenv("CI_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="CI_FLAG"):
        env_bool("CI_FLAG")
    monkeypatch.setenv("CI_NUM", "forty")
    with pytest.raises(ImproperlyConfigured, match="CI_NUM"):
        env_int("CI_NUM", 1)
    with pytest.raises(ImproperlyConfigured, match="at least"):
        monkeypatch.setenv("CI_NUM", "0")
        env_int("CI_NUM", 1, minimum=1)


def test_secrets_can_come_from_files(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("CI_SECRET_FILE", str(secret))
    assert env_str("CI_SECRET") == "s3cr3t"
    monkeypatch.setenv("CI_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="CI_SECRET_FILE"):
        env_str("CI_SECRET")


@pytest.mark.django_db
def test_channel_credentials_are_encrypted_at_rest():
    account = ChannelAccount.objects.create(
        platform="simulator", external_id="enc", name="Enc", credentials={"access_token": "tok-very-secret"}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channelaccount WHERE id = %s", [account.id])
        stored = cursor.fetchone()[0]
    assert "tok-very-secret" not in stored
    assert ChannelAccount.objects.get(id=account.id).credentials == {"access_token": "tok-very-secret"}


def test_language_detection_covers_the_feed_languages():
    from inbox.language import language_detect

    assert language_detect("Quan passaran a recollir els mobles vells del carrer?") == "ca"
    assert language_detect("¿Cuándo pasa el autobús nocturno por la plaza?") == "es"
    assert language_detect("Kiedy będzie wywóz śmieci na naszej ulicy?") == "pl"
    assert language_detect("چراغ‌های خیابان ما از دوشنبه خاموش است") == "fa"
    assert language_detect("@ajuntament 👍") == ""


ROOT = Path(__file__).resolve().parent.parent


def test_env_float_parses_and_rejects(monkeypatch):
    monkeypatch.setenv("CI_RATE", "0.25")
    assert env_float("CI_RATE", 1.0) == 0.25
    monkeypatch.setenv("CI_RATE", "")
    assert env_float("CI_RATE", 1.0) == 1.0
    for bad, message in (("fast", "must be a number"), ("nan", "must be a finite number"), ("-1", "must be at least 0")):
        monkeypatch.setenv("CI_RATE", bad)
        with pytest.raises(ImproperlyConfigured, match=f"CI_RATE {message}, got"):
            env_float("CI_RATE", 1.0, minimum=0)


def test_env_file_fills_the_environment_and_real_variables_win(monkeypatch, tmp_path):
    path = tmp_path / ".env.demo"
    path.write_text(
        "# the demo\n\nCI_DEMO_DEBUG=true\nexport CI_DEMO_PORT = 8765\nCI_DEMO_NAME='Ajuntament = city'\n"
        "CI_DEMO_SET_ALREADY=from-the-file\nCI_DEMO_EMPTY=\n"
    )
    for name in ("CI_DEMO_DEBUG", "CI_DEMO_PORT", "CI_DEMO_NAME", "CI_DEMO_EMPTY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI_DEMO_SET_ALREADY", "from-the-environment")

    loaded = load_env_file(path)

    assert loaded == ["CI_DEMO_DEBUG", "CI_DEMO_PORT", "CI_DEMO_NAME", "CI_DEMO_EMPTY"]
    assert env_bool("CI_DEMO_DEBUG") is True
    assert env_int("CI_DEMO_PORT", 8000) == 8765
    assert env_str("CI_DEMO_NAME") == "Ajuntament = city"
    assert env_str("CI_DEMO_SET_ALREADY") == "from-the-environment"
    assert env_int("CI_DEMO_EMPTY", 8000) == 8000
    for name in loaded:
        monkeypatch.delenv(name)


def test_env_file_missing_is_nothing_and_malformed_names_its_line(tmp_path):
    assert load_env_file(tmp_path / "absent") == []
    path = tmp_path / ".env.demo"
    path.write_text("CI_DEMO_OK=1\nthis is not a setting\n")
    with pytest.raises(ImproperlyConfigured, match=r"\.env\.demo, line 2: expected NAME=value"):
        load_env_file(path)


def _without_settings_environment(**extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: none of the variables the test run sets."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def test_manage_py_reads_the_demo_settings_that_make_run_writes(tmp_path):
    """`manage.py <command>` after `make run` runs against the demo, no DEBUG=true needed."""
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")  # reads .env.demo beside itself
    show = ["shell", "--verbosity", "0", "-c", "from django.conf import settings as s; "
            "print(s.DEBUG, s.PORT, s.SITE_URL, s.DATABASES['default']['NAME'], s.DEMO_FEED, s.DEMO_FEED_RATE)"]

    def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(tmp_path / "manage.py"), *args], cwd=tmp_path, capture_output=True,
            text=True, timeout=120, env=_without_settings_environment(**env), check=False,
        )

    without = manage(*show)
    assert without.returncode != 0
    assert "SECRET_KEY must be set (or DEBUG=true" in without.stderr

    (tmp_path / ".env.demo").write_text(
        f"DEBUG=true\nVAR_DIR={tmp_path / 'var'}\nPORT=8765\nDEMO_FEED=off\nDEMO_FEED_RATE=0.5\n"
    )
    demo = manage(*show)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.split() == [
        "True", "8765", "http://127.0.0.1:8765", str(tmp_path / "var" / "db.sqlite3"), "False", "0.5",
    ]

    overridden = manage(*show, PORT="9001")
    assert overridden.stdout.split()[1] == "9001"


def test_the_in_process_demo_runs_tasks_without_a_broker_warning(tmp_path):
    """No REDIS_URL: tasks run in-process, and nothing talks of a broker hostname."""
    script = (
        "import django, logging; django.setup()\n"
        "from django.conf import settings\n"
        "from config.celery import app\n"
        "@app.task(name='ci.ping')\n"
        "def ping(): return 'pong'\n"
        "assert settings.CELERY_TASK_ALWAYS_EAGER\n"
        "print(ping.delay().get())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env=_without_settings_environment(
            DJANGO_SETTINGS_MODULE="config.settings", DEBUG="true", VAR_DIR=str(tmp_path),
        ),
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pong"
    assert "hostname" not in done.stderr.lower()
    assert "WARNING" not in done.stderr


def _variables_read_by_the_settings() -> set[str]:
    tree = ast.parse((ROOT / "config" / "settings.py").read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("env_"):
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"config/settings.py line {node.lineno}: read variables by a literal name, so the docs can list it"
            )
            names.add(first.value)
    return names


def test_every_variable_the_settings_read_is_documented_and_nothing_else_is_claimed():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    settings_part, _, elsewhere = page.partition("\n## Read elsewhere")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", settings_part, re.M))
    read = _variables_read_by_the_settings()

    assert elsewhere, "docs/configuration.md keeps its 'Read elsewhere' section last"
    assert len(read) > 30  # the scan finds them: a change of helper names must not empty it
    assert read - documented == set(), "read in config/settings.py, missing from docs/configuration.md"
    assert documented - read == set(), "documented as a setting, not read by config/settings.py"
