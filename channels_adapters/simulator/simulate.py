"""The simulated platform's own webhook deliveries, and its demo accounts.

A body carries feed events as they are (``{"account_id": ..., "events": [...]}``), signed
like every simulator delivery.
"""

from __future__ import annotations

import json

from channels_adapters.base import SimulatedAccount
from channels_adapters.simulator.webhook import SIGNATURE_HEADER, sign

ACCOUNTS = [
    SimulatedAccount("simulator", "demo-city", "Ajuntament (simulated network)", "ajuntament", team="general"),
    SimulatedAccount("simulator", "demo-mobility", "Mobilitat (simulated network)", "mobilitat", team="mobility"),
]


def payload(account_id: str, events: list[dict]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"account_id": account_id, "events": events}, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body)}
