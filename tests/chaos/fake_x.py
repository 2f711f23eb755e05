"""A small X API v2 on loopback for the outbound and rate-limit chaos scenarios.

It answers what the X client calls (tweepy's real code runs against it, through
``X_API_BASE_URL``):

* ``POST /2/tweets`` - records the post; sometimes answers 503 without posting, and
  sometimes posts and then sleeps past the client's timeout (the reply went out, the
  answer never arrives: the case where a careless retry posts twice);
* ``GET /2/users/:id/tweets`` - the account's posts from what it recorded, newest first,
  with ``start_time``/``end_time``/``max_results``/``pagination_token``, so that
  ``confirm_delivery`` can find a post whose answer was lost;
* ``GET /2/users/:id/mentions`` and ``GET /2/dm_events`` - for polling;
* while ``rate_limited_until`` is in the future, every endpoint answers 429 with
  ``x-rate-limit-reset``, as X does.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MARKER = re.compile(r"\[reply (\d+)\]")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class Post:
    id: str
    text: str
    in_reply_to: str
    created: float
    author_id: str = ""


@dataclass
class Hit:
    at: float
    method: str
    path: str
    status: int
    marker: str = ""


@dataclass
class FakeX:
    port: int
    account_id: str
    timeout_share: float = 0.0  # posted, then no answer before the client's timeout
    error_share: float = 0.0  # 503 before posting
    hang_seconds: float = 3.0
    latency: float = 0.0  # seconds before answering a POST (the window in which a kill lands mid-send)
    rate_limited_until: float = 0.0  # epoch seconds
    rate_limit_for: float = 0.0  # armed: the first request starts a window of this many seconds
    seed: int = 7
    posts: list[Post] = field(default_factory=list)
    mentions: list[Post] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1_900_000_000_000_000_000
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # --- lifecycle ---
    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up (its timeout) resets the connection: expected

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-x", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def new_id(self) -> str:
        with self.lock:
            self._next_id += self.rng.randint(1, 1000)
            return str(self._next_id)

    def add_mention(self, text: str, author_id: str) -> Post:
        post = Post(self.new_id(), text, "", time.time(), author_id)
        with self.lock:
            self.mentions.append(post)
        return post

    # --- what the tests read ---
    def posts_by_marker(self) -> dict[str, list[Post]]:
        out: dict[str, list[Post]] = {}
        with self.lock:
            for post in self.posts:
                m = MARKER.search(post.text)
                out.setdefault(m.group(1) if m else "", []).append(post)
        return out

    # --- HTTP ---
    def _reply(self, h: BaseHTTPRequestHandler, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout it was meant to hit)

    def _limits(self) -> dict:
        return {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "299",
                "x-rate-limit-reset": str(int(time.time()) + 900)}

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        payload = json.loads(h.rfile.read(length) or b"{}") if length else {}
        marker = ""
        if method == "POST" and isinstance(payload, dict):
            m = MARKER.search(str(payload.get("text", "")))
            marker = m.group(1) if m else ""
        now = time.time()
        with self.lock:
            if self.rate_limit_for:
                self.rate_limited_until, self.rate_limit_for = now + self.rate_limit_for, 0.0
        if now < self.rate_limited_until:
            reset = int(self.rate_limited_until) + (1 if self.rate_limited_until % 1 else 0)
            self._hit(method, url.path, 429, marker)
            return self._reply(h, 429, {"title": "Too Many Requests", "detail": "Too Many Requests",
                                        "type": "about:blank", "status": 429},
                               {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0",
                                "x-rate-limit-reset": str(reset)})
        if method == "POST" and url.path == "/2/tweets":
            return self._post_tweet(h, payload, marker)
        parts = url.path.strip("/").split("/")
        if method == "GET" and len(parts) == 4 and parts[:2] == ["2", "users"] and parts[3] == "tweets":
            self._hit(method, url.path, 200)
            with self.lock:
                posts = list(self.posts)
            return self._reply(h, 200, self._page(posts, query, timeline=True), self._limits())
        if method == "GET" and len(parts) == 4 and parts[:2] == ["2", "users"] and parts[3] == "mentions":
            self._hit(method, url.path, 200)
            with self.lock:
                mentions = list(self.mentions)
            return self._reply(h, 200, self._page(mentions, query, timeline=False), self._limits())
        if method == "GET" and url.path == "/2/dm_events":
            self._hit(method, url.path, 200)
            return self._reply(h, 200, {"meta": {"result_count": 0}}, self._limits())
        self._hit(method, url.path, 404)
        return self._reply(h, 404, {"title": "Not Found Error", "detail": f"no route {url.path}"})

    def _hit(self, method: str, path: str, status: int, marker: str = "") -> None:
        with self.lock:
            self.hits.append(Hit(time.time(), method, path, status, marker))

    def _post_tweet(self, h: BaseHTTPRequestHandler, payload: dict, marker: str) -> None:
        with self.lock:
            roll = self.rng.random()
        if roll < self.error_share:
            self._hit("POST", "/2/tweets", 503, marker)
            return self._reply(h, 503, {"title": "Service Unavailable", "detail": "Service Unavailable",
                                        "type": "about:blank", "status": 503})
        if self.latency:
            time.sleep(self.latency)
        text = str(payload.get("text", ""))
        in_reply_to = str((payload.get("reply") or {}).get("in_reply_to_tweet_id", ""))
        post = Post(self.new_id(), text, in_reply_to, time.time(), self.account_id)
        with self.lock:
            self.posts.append(post)
        if roll < self.error_share + self.timeout_share:
            self._hit("POST", "/2/tweets", 0, marker)  # 0: posted, answer lost
            time.sleep(self.hang_seconds)
        else:
            self._hit("POST", "/2/tweets", 201, marker)
        return self._reply(h, 201, {"data": {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}})

    def _page(self, items: list[Post], query: dict, *, timeline: bool) -> dict:
        start, end = _parse_time(query.get("start_time")), _parse_time(query.get("end_time"))
        since_id = int(query.get("since_id") or 0)
        chosen = [
            p for p in items
            if (start is None or p.created >= start) and (end is None or p.created <= end)
            and int(p.id) > since_id
        ]
        chosen.sort(key=lambda p: int(p.id), reverse=True)
        size = max(5, min(100, int(query.get("max_results") or 10)))
        offset = int(query.get("pagination_token") or 0)
        page = chosen[offset: offset + size]
        meta: dict = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0].id, page[-1].id
        if offset + size < len(chosen):
            meta["next_token"] = str(offset + size)
        data = []
        for p in page:
            item = {"id": p.id, "text": p.text, "created_at": _iso(p.created), "author_id": p.author_id,
                    "edit_history_tweet_ids": [p.id]}
            if timeline:
                item["conversation_id"] = p.in_reply_to or p.id
                if p.in_reply_to:
                    item["referenced_tweets"] = [{"type": "replied_to", "id": p.in_reply_to}]
            else:
                item["conversation_id"] = p.id
            data.append(item)
        body: dict = {"meta": meta}
        if data:
            body["data"] = data
            if not timeline:
                body["includes"] = {"users": [
                    {"id": p.author_id, "name": f"Citizen {p.author_id[-4:]}", "username": f"c{p.author_id[-6:]}"}
                    for p in {p.author_id: p for p in page}.values()
                ]}
        return body
