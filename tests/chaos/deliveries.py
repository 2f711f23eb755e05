"""What the platforms send during a chaos run: signed webhooks in three shapes.

Every citizen message carries a unique marker ``[chaos <n>]`` in its text, so the check
at the end does not depend on how each platform names its ids: each marker must be
stored exactly once. Bodies are built from the simulated citizen feed and shaped by the
demo's own X and Meta builders, then signed with the chaos stack's secrets.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

from channels_adapters.meta.simulate import meta_payloads
from channels_adapters.meta.webhook import SIGNATURE_HEADER as META_SIGNATURE
from channels_adapters.meta.webhook import sign as meta_sign
from channels_adapters.simulator.feed import Feed
from channels_adapters.simulator.webhook import SIGNATURE_HEADER as SIM_SIGNATURE
from channels_adapters.simulator.webhook import sign as sim_sign
from channels_adapters.x.simulate import x_payloads
from channels_adapters.x.webhook import SIGNATURE_HEADER as X_SIGNATURE
from channels_adapters.x.webhook import sign as x_sign
from tests.chaos.harness import SECRETS, Delivery

SIM_ACCOUNT = "chaos-sim"
X_ACCOUNT = "1480000000000000777"
FB_PAGE = "2000000000000777"
MARKER = re.compile(r"\[chaos (\d+)\]")
META_BATCH_MAX = 50


@dataclass
class Plan:
    deliveries: list[Delivery]
    unique_messages: int
    unique_deliveries: int
    duplicates: int
    by_platform: dict[str, int]


def _sim(events: list[dict]) -> Delivery:
    body = json.dumps({"account_id": SIM_ACCOUNT, "events": events}, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", SIM_SIGNATURE: sim_sign(body, SECRETS["SIMULATOR_SECRET"])}
    return Delivery("/webhooks/simulator/", body, headers)


def _x(event: dict) -> Delivery:
    body, _ = x_payloads(event, X_ACCOUNT)
    headers = {"Content-Type": "application/json", X_SIGNATURE: x_sign(body, SECRETS["X_CONSUMER_SECRET"])}
    return Delivery("/webhooks/x/", body, headers)


def _meta_entries(events: list[dict]) -> list[dict]:
    return [json.loads(meta_payloads(e, FB_PAGE, "facebook")[0])["entry"][0] for e in events]


def _meta(entries: list[dict]) -> Delivery:
    body = json.dumps({"object": "page", "entry": entries}, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", META_SIGNATURE: meta_sign(body, SECRETS["META_APP_SECRET"])}
    return Delivery("/webhooks/meta/", body, headers)


def plan(deliveries: int, *, duplicate_share: float = 0.2, seed: int = 2026,
         shares: tuple[float, float, float] = (0.4, 0.35, 0.25), first_marker: int = 0) -> Plan:
    """``deliveries`` webhook POSTs in all, ``duplicate_share`` of them redeliveries, shuffled.

    ``shares``: simulator, X, Meta. Simulator bodies hold 1-3 events, X's one (Account
    Activity sends one per POST), Meta's 1-50 entries. A Meta redelivery is either the same
    bytes or the same updates in another batch (Meta retries and re-batches).
    """
    rng = random.Random(seed)
    feed = Feed(seed=seed)
    unique = round(deliveries / (1 + duplicate_share))
    n = first_marker
    originals: list[tuple[str, Delivery, list[dict]]] = []

    def event() -> dict:
        nonlocal n
        n += 1
        e = feed.event()
        e["text"] = f"{e['text']} [chaos {n}]"
        return e

    counts = [round(unique * s) for s in shares]
    counts[0] += unique - sum(counts)
    for _ in range(counts[0]):
        events = [event() for _ in range(rng.randint(1, 3))]
        originals.append(("simulator", _sim(events), events))
    for _ in range(counts[1]):
        e = event()
        originals.append(("x", _x(e), [e]))
    meta_events: list[dict] = []
    for _ in range(counts[2]):
        events = [event() for _ in range(rng.randint(1, META_BATCH_MAX))]
        meta_events += events
        originals.append(("meta", _meta(_meta_entries(events)), events))

    out = [d for _, d, _ in originals]
    by_platform = {"simulator": counts[0], "x": counts[1], "meta": counts[2]}
    for _ in range(deliveries - unique):
        platform, delivery, events = rng.choice(originals)
        if platform == "meta" and rng.random() < 0.5:
            # The same updates in another batch: a sample of this one and a few others.
            sample = rng.sample(events, rng.randint(1, len(events)))
            sample += rng.sample(meta_events, min(len(meta_events), rng.randint(0, 10)))
            rng.shuffle(sample)
            delivery = _meta(_meta_entries(sample[:META_BATCH_MAX]))
        out.append(delivery)
    rng.shuffle(out)
    return Plan(out, unique_messages=n - first_marker, unique_deliveries=unique,
                duplicates=deliveries - unique, by_platform=by_platform)
