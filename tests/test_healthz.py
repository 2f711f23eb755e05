"""`GET /healthz` for load balancers and compose: the real database and the real broker."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthy_when_database_and_broker_answer(settings):
    assert settings.REDIS_URL, "tests run against Redis (REDIS_URL)"

    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_unreachable_broker_is_a_503(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = Client().get("/healthz")

    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "error"
    assert data["database"] == "ok"
    assert data["broker"].startswith("error: ")
    assert "127.0.0.1" not in data["broker"]  # the class of error, not connection details


def test_only_get(settings):
    assert Client().post("/healthz").status_code == 405
