"""Small text helpers shared by the services."""

from __future__ import annotations

PREVIEW_LENGTH = 200


def preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "…"
