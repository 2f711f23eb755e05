"""Never a double reply: replies to X through a fake X API on loopback that sometimes posts
and then never answers, while workers are SIGKILLed; and an X that answers 429 for a while.

tweepy and the X client run for real against ``tests/chaos/fake_x.py`` (``X_API_BASE_URL``).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.chaos.deliveries import X_ACCOUNT
from tests.chaos.fake_x import MARKER as REPLY_MARKER
from tests.chaos.fake_x import FakeX
from tests.chaos.harness import Killer, Stack
from tests.chaos.report import Clock, record

pytestmark = pytest.mark.chaos


@pytest.fixture
def fake_x(stack):
    fake = FakeX(port=stack.fake_x_port, account_id=X_ACCOUNT)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def reply_states(stack: Stack) -> dict[str, int]:
    rows = stack.sql("SELECT delivery_status, count(*) FROM inbox_message WHERE direction = 'out' GROUP BY 1")
    return dict(rows)


def replies(stack: Stack) -> dict[str, tuple[str, str, str]]:
    """marker -> (status, external id, error) of each reply."""
    rows = stack.sql("SELECT text, delivery_status, coalesce(external_id, ''), delivery_error "
                     "FROM inbox_message WHERE direction = 'out'")
    return {REPLY_MARKER.search(text).group(1): (status, ext, err) for text, status, ext, err in rows}


def settle(stack: Stack, *, timeout: float, beat_every: float = 5.0, stall: float = 10.0) -> dict:
    """Wait until no reply is queued or sending. The beat's outbound sweep runs every few
    seconds; when only replies stuck in "sending" (their worker was killed mid-call) are
    left, the workers are stopped and the sweep settles them as it would five minutes
    later: it asks X whether the reply went out, and never sends it again."""
    deadline = time.monotonic() + timeout
    last, last_change, next_beat, settles = None, time.monotonic(), 0.0, 0
    while time.monotonic() < deadline:
        for proc in stack.workers():
            if not proc.alive():
                stack.start_worker(proc.name)
        states = reply_states(stack)
        open_ = states.get("queued", 0) + states.get("sending", 0)
        if open_ == 0:
            return {"settles": settles, "open": 0}
        if states != last:
            last, last_change = states, time.monotonic()
        if time.monotonic() >= next_beat:
            stack.send_task("channels_adapters.outbound_sweep")
            next_beat = time.monotonic() + beat_every
        if time.monotonic() - last_change > stall and states.get("sending", 0):
            names = [p.name for p in stack.workers()]
            stack.stop_workers()
            stack.control("outbound_sweep")
            settles += 1
            for name in names:
                stack.start_worker(name)
            last_change = time.monotonic()
        time.sleep(0.5)
    return {"settles": settles, "open": open_}


OUTBOUND_SCALES = [
    pytest.param({"scale": "short", "replies": 100, "error_share": 0.0, "settle_timeout": 150}, marks=pytest.mark.chaos_short, id="short"),
    pytest.param({"scale": "full", "replies": 1000, "error_share": 0.05, "settle_timeout": 900}, marks=pytest.mark.chaos_full, id="full"),
]


@pytest.mark.parametrize("cfg", OUTBOUND_SCALES)
def test_replies_through_timeouts_and_worker_kills_are_never_posted_twice_and_all_settle(stack, fake_x, cfg):
    fake_x.timeout_share = 0.10  # posted, then no answer before the client's 2 s timeout
    # 503, nothing posted: retried after a backoff of 30 s or more (too slow for the short run)
    fake_x.error_share = cfg["error_share"]
    fake_x.latency = 0.2
    clock = Clock()
    # Submitted first (the tasks wait in Redis), then sent while workers are being killed.
    # Some conversations get two replies: confirmation must tell them apart.
    ids = stack.control("replies_submit", count=cfg["replies"], conversations=int(cfg["replies"] * 0.8))["ids"]
    clock.mark("submitted_s")
    for name in ("worker-1", "worker-2"):
        stack.start_worker(name)
    killer = Killer(stack, every=(2.0, 4.0), seed=31)
    killer.start()
    try:
        # Kill while the replies go out.
        deadline = time.monotonic() + (20 if cfg["scale"] == "short" else 240)
        while time.monotonic() < deadline and (reply_states(stack).get("queued", 0) or len(killer.kills) < 2):
            time.sleep(1)
    finally:
        killer.stop()
    clock.mark("killing_s")
    settled = settle(stack, timeout=cfg["settle_timeout"])
    clock.mark("settled_s")
    stack.stop_workers()

    posts = fake_x.posts_by_marker()
    outcome = replies(stack)
    double = sorted(m for m, p in posts.items() if len(p) > 1)
    sent_not_posted = sorted(m for m, (status, *_rest) in outcome.items() if status == "sent" and m not in posts)
    wrong_id = sorted(m for m, (status, ext, _) in outcome.items()
                      if status == "sent" and m in posts and ext not in {p.id for p in posts[m]})
    failed_no_reason = sorted(m for m, (status, _, err) in outcome.items() if status == "failed" and not err.strip())
    failed_but_posted = sorted(m for m, (status, *_rest) in outcome.items() if status == "failed" and m in posts)
    states = reply_states(stack)
    figures = {
        "replies": len(ids), "states": states, "posted_on_x": len(posts), "double_posts": len(double),
        "sent_not_posted": len(sent_not_posted), "sent_with_wrong_id": len(wrong_id),
        "failed_without_reason": len(failed_no_reason), "failed_but_posted (uncertain, not confirmed)":
            len(failed_but_posted),
        "x_answers": {str(k): sum(1 for h in fake_x.hits if h.method == "POST" and h.status == k)
                      for k in (201, 0, 503)},
        "attempts": stack.scalar("SELECT count(*) FROM inbox_deliveryattempt"),
        "attempt_outcomes": dict(stack.sql("SELECT outcome, count(*) FROM inbox_deliveryattempt GROUP BY 1")),
        "worker_kills": len(killer.kills), "sweep_settles": settled["settles"], "durations_s": clock.marks,
    }
    record("replies through timeouts and kills", cfg["scale"], figures)
    detail = f"{figures}\n{stack.logs()}"
    assert len(outcome) == len(ids), detail
    assert not double, f"posted twice: {double[:10]}\n{detail}"
    assert states.get("queued", 0) == 0 and states.get("sending", 0) == 0, f"not settled\n{detail}"
    assert not sent_not_posted and not wrong_id, detail
    assert not failed_no_reason, detail


RATE_SCALES = [
    pytest.param({"scale": "short", "limited_s": 10, "mentions": 30, "replies": 20, "timeout": 120},
                 marks=pytest.mark.chaos_short, id="short"),
    pytest.param({"scale": "full", "limited_s": 60, "mentions": 300, "replies": 100, "timeout": 300},
                 marks=pytest.mark.chaos_full, id="full"),
]


@pytest.mark.parametrize("cfg", RATE_SCALES)
def test_rate_limited_x_polling_and_sending_wait_for_the_reset_then_lose_nothing(stack, fake_x, cfg):
    clock = Clock()
    since_id = fake_x.new_id()
    for i in range(1, cfg["mentions"] + 1):
        fake_x.add_mention(f"@chaos_x El semàfor no funciona [mention {i}]", author_id=str(1_620_000_000_000_000_000 + i))
    # X's window starts with the first request it refuses: the first reply or poll.
    fake_x.rate_limit_for = cfg["limited_s"]
    # As if the account had been polled before, up to since_id; due now.
    stack.sql("UPDATE inbox_channelaccount SET next_poll_at = NULL, simulated = false, cursors = %s "
              "WHERE platform = 'x' AND external_id = %s",
              [json.dumps({"mentions": {"since_id": since_id}}), X_ACCOUNT])
    stack.control("replies_submit", count=cfg["replies"])
    clock.mark("submitted_s")
    stack.start_worker("worker-1")

    def done() -> bool:
        stored = stack.scalar(r"SELECT count(DISTINCT text) FROM inbox_message WHERE direction = 'in' "
                              r"AND text ~ '\[mention \d+\]'")
        return stored == cfg["mentions"] and reply_states(stack).get("sent", 0) == cfg["replies"]

    deadline = time.monotonic() + cfg["limited_s"] + cfg["timeout"]
    beats = 0
    while time.monotonic() < deadline and not done():
        stack.send_task("channels_adapters.poll_due_channels")  # the beat, every 2 s instead of 30
        beats += 1
        time.sleep(2)
    clock.mark("done_s")
    stack.stop_workers()

    hits = list(fake_x.hits)
    reset = int(fake_x.rate_limited_until) + 1  # the x-rate-limit-reset X gave
    during = [h for h in hits if h.at < reset - 1]
    # After a 429, the same reply or the same endpoint is asked again only after the reset.
    early = []
    first_429: dict[str, float] = {}
    for h in hits:
        key = h.marker or h.path
        if h.status == 429:
            first_429.setdefault(key, h.at)
        elif key in first_429 and h.at < reset - 0.5:
            early.append((key, round(h.at - reset, 2), h.status))
    resumed = [h.at for h in hits if h.status in (200, 201) and h.at >= reset - 1]
    posts = fake_x.posts_by_marker()
    stored = stack.sql(r"SELECT (regexp_match(text, '\[mention (\d+)\]'))[1], count(*) FROM inbox_message "
                       r"WHERE direction = 'in' AND text ~ '\[mention \d+\]' GROUP BY 1")
    figures = {
        "rate_limited_s": cfg["limited_s"], "mentions": cfg["mentions"], "replies": cfg["replies"],
        "requests_while_limited": len(during),
        "answered_429": sum(1 for h in hits if h.status == 429),
        "asked_again_before_reset": len(early),
        "first_success_after_reset_s": round(min(resumed) - reset, 1) if resumed else None,
        "mentions_stored": len(stored), "mentions_stored_twice": sum(1 for _, c in stored if c > 1),
        "replies_states": reply_states(stack), "double_posts": sum(1 for p in posts.values() if len(p) > 1),
        "beats": beats, "durations_s": clock.marks,
    }
    record("X answering 429", cfg["scale"], figures)
    detail = f"{figures}\nearly: {early[:10]}\n{stack.logs()}"
    assert figures["answered_429"] > 0, f"X was never rate-limited: the scenario did not happen\n{detail}"
    assert not early, f"asked X again before the reset\n{detail}"
    # Each reply tried once and each poll endpoint once before the reset: then they wait.
    assert len(during) <= cfg["replies"] + 4, f"kept calling a rate-limited X\n{detail}"
    assert len(stored) == cfg["mentions"] and figures["mentions_stored_twice"] == 0, detail
    assert figures["replies_states"].get("sent", 0) == cfg["replies"], detail
    assert figures["double_posts"] == 0, detail
