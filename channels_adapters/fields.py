"""Readers for webhook and API payload fields, shared by every platform adapter.

Each one checks the type of what it reads and raises ``MalformedPayload`` naming the field,
so a surprising payload is rejected at the edge with a reason, never half-stored.
"""

from __future__ import annotations

import json
from datetime import datetime

from channels_adapters.base import MalformedPayload


def json_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedPayload("expected a JSON object")
    return data


def opt_str(value, name: str) -> str:
    """A string that may be absent (then "")."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedPayload(f"{name} must be a string")
    return value


def req_str(value, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"{name} must be a non-empty string")
    return value


def opt_list(value, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{name} must be a list")
    return value


def opt_dict(value, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedPayload(f"{name} must be an object")
    return value


def req_dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{name} must be an object")
    return value


def iso_time(value, name: str) -> datetime:
    """An ISO 8601 time with its offset: a time without a zone is ambiguous, so refused."""
    try:
        when = datetime.fromisoformat(req_str(value, name))
    except ValueError as exc:
        raise MalformedPayload(f"{name} is not an ISO 8601 time: {value!r}") from exc
    if when.tzinfo is None:
        raise MalformedPayload(f"{name} has no time zone")
    return when
