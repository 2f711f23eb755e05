"""Readers for webhook and API payload fields, shared by every platform adapter.

Each one checks the type of what it reads and raises ``MalformedPayload`` naming the field,
so a surprising payload is rejected at the edge with a reason, never half-stored.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from channels_adapters.base import MalformedPayload


def json_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"not JSON: {exc}") from exc
    except RecursionError as exc:  # a validly signed body nested thousands of levels deep
        raise MalformedPayload("JSON nested too deeply") from exc
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


_NUMBER = re.compile(r"\d{1,20}(\.\d+)?")
_MILLISECONDS_FROM = 100_000_000_000  # epoch seconds reach this in the year 5138


def epoch_time(value, name: str, *, unit: str = "auto") -> datetime:
    """Epoch seconds or milliseconds, as a number or a numeric string (Meta sends both).

    ``unit`` is "s", "ms" or "auto" (milliseconds when the value is too large for seconds).
    A value out of the calendar's range is malformed, not a crash.
    """
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        value = float(value) if "." in value else int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedPayload(f"{name} is not an epoch time: {value!r}")
    milliseconds = unit == "ms" or (unit == "auto" and abs(value) >= _MILLISECONDS_FROM)
    try:
        return datetime.fromtimestamp(value / 1000 if milliseconds else value, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise MalformedPayload(f"{name} is out of range: {value!r}") from exc
