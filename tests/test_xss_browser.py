"""Script injection, tried as an attacker would: a corpus of payloads (OWASP's XSS filter-evasion
cheat sheet and more) arrives through the real webhook endpoints (signed simulator deliveries,
Telegram updates with the bot's secret token, signed Meta deliveries) as message text, display
names, handles, profile facts, attachment names and types, and link URLs; then an admin with a
verified second factor opens every page that shows them in Debian's Chromium.

Every payload that could run calls ``__xss(<its number>)``, a function the test exposes to the
page (and to every frame): one call is a script that ran. The pages are walked twice: under the
real Content-Security-Policy (where any violation the browser reports fails the test) and with
the CSP bypassed, so an unescaped payload would run there even though the CSP would stop it in
production; escaping, not the CSP alone, must hold. On every page no element born of a payload
may exist (an ``img[src=x]``, an event-handler attribute, a ``svg``/``iframe``/``math``/
``object``/``embed``/``base``/``meta`` the app never renders, a ``javascript:``/``data:``/
``vbscript:`` link or form action, an inline script), and template syntax (``{{ 7*7 }}``,
``${7*7}``, ``{% debug %}``, ``#{7*7}``) is shown literally, never evaluated.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import sync_playwright

from channels_adapters.meta.webhook import SIGNATURE_HEADER as META_SIGNATURE
from channels_adapters.meta.webhook import sign as meta_sign
from channels_adapters.telegram.webhook import SECRET_HEADER as TELEGRAM_SECRET
from channels_adapters.telegram.webhook import secret_token
from inbox.models import ChannelAccount, Contact, Conversation, Message, RawEvent, ReplyDraft
from tests.conftest import committed, login, post_sim, sim_body
from tests.test_browser import ARTIFACTS, CHROMIUM_ARGS, off_the_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# {n} is the payload's number: a payload that runs calls __xss(n) and says which one it was.
TEMPLATES = [
    "<script>__xss({n})</script>",
    "<img src=x onerror=__xss({n})>",
    "<IMG SRC=x OnErRoR=\"__xss({n})\">",
    "<img src=x onerror=\"&#95;&#95;xss({n})\">",
    "<svg onload=__xss({n})>",
    "<svg><script>__xss({n})</script></svg>",
    "<svg><animate onbegin=__xss({n}) attributeName=x dur=1s>",
    "<a href=\"javascript:__xss({n})\">click me {n}</a>",
    "javascript:__xss({n})",
    "JaVaScRiPt:__xss({n})",
    "&#106;avascript:__xss({n})",
    "&#x6A;&#x61;&#x76;&#x61;script:__xss({n})",
    " \tjava\tscript:__xss({n})",
    "java\u200bscript:__xss({n})",
    "<iframe srcdoc=\"<script>parent.__xss({n})</script>\"></iframe>",
    "<iframe src=\"javascript:parent.__xss({n})\"></iframe>",
    "<a href=\"data:text/html,<script>__xss({n})</script>\">data {n}</a>",
    "data:text/html;base64,PHNjcmlwdD5fX3hzcygxKTwvc2NyaXB0Pg==",
    "<math><mtext><table><mglyph><style><img src=x onerror=__xss({n})></style></mglyph></table></mtext></math>",
    "<math href=\"javascript:__xss({n})\">m</math>",
    "<details open ontoggle=__xss({n})>",
    "\"><img src=x onerror=__xss({n})>",
    "'><svg onload=__xss({n})>",
    "\" autofocus onfocus=\"__xss({n})\" x=\"",
    "' autofocus onfocus='__xss({n})' x='",
    "</textarea><script>__xss({n})</script>",
    "</title><script>__xss({n})</script>",
    "</script><script>__xss({n})</script>",
    "<input autofocus onfocus=__xss({n})>",
    "<body onload=__xss({n})>",
    "<object data=\"javascript:__xss({n})\"></object>",
    "<embed src=\"javascript:__xss({n})\">",
    "<base href=\"javascript:__xss({n})//\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:__xss({n})\">",
    "<form><button formaction=javascript:__xss({n})>go</button></form>",
    "<div style=\"background:url(javascript:__xss({n}))\">styled</div>",
    "<noscript><p title=\"</noscript><img src=x onerror=__xss({n})>\"></noscript>",
    "<scr<script>ipt>__xss({n})</scr</script>ipt>",
    "\u202egnp.exe<img src=x onerror=__xss({n})>",
    "<im\u200bg src=x onerror=__xss({n})>",
    "\ufe64script\ufe65__xss({n})\ufe64/script\ufe65",
    "[click](javascript:__xss({n}))",
    "{{{{constructor.constructor('__xss({n})')()}}}}",
    "tpl-{n}: {{{{ 7*7 }}}}",
    "tpl-{n}: ${{7*7}}",
    "tpl-{n}: {{% debug %}}",
    "tpl-{n}: #{{7*7}}",
    "tpl-{n}: <%= 7*7 %>",
    "A" * 6000 + "<img src=x onerror=__xss({n})>",
]
PAYLOADS = [template.format(n=n) for n, template in enumerate(TEMPLATES)]
# Shown literally: the text as it arrived, never the value of an expression.
LITERALS = {n: p for n, p in enumerate(PAYLOADS) if p.startswith(f"tpl-{n}:")}
URL_PAYLOADS = [p for p in PAYLOADS if len(p) < 500]  # link URLs; platforms cap them long before 6,000

# Found on any page: something a payload made. The app renders none of these itself (no inline
# script, no inline handler, no frame; CSP forbids them).
PAYLOAD_BORN = """() => {
  const found = [];
  const describe = el => el.outerHTML.slice(0, 160);
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (/^on/i.test(attr.name)) found.push("handler " + describe(el));
      if (["formaction", "action", "src", "data", "srcdoc"].includes(attr.name.toLowerCase())
          && /^\\s*(javascript|data|vbscript):/i.test(attr.value)) found.push("url " + describe(el));
    }
  }
  // The app's own SVG (dashboard charts, the admin's icons) always has a class; a payload's never.
  for (const el of document.querySelectorAll(
      'img[src="x"], svg:not([class]), iframe, frame, math, object, embed, base, meta[http-equiv], '
      + 'input[autofocus], details:not([class]):not([data-filter-title])'))
    found.push("element " + describe(el));
  for (const el of document.querySelectorAll("script")) {
    if (!el.src && el.type !== "application/json") found.push("inline script " + describe(el));
  }
  for (const a of document.querySelectorAll("a[href], area[href]")) {
    if (["javascript:", "data:", "vbscript:"].includes(a.protocol)) found.push("link " + describe(a));
  }
  if (document.querySelectorAll("body").length !== 1) found.push("a second body");
  return found;
}"""

# The payloads whose own conversation page is opened (every one is on the queue and in the
# shared thread): script, image, attribute breakers, </textarea>, </title>, RTL override.
OWN_PAGES = (0, 1, 21, 23, 25, 26, 38)

BOT_ID, BOT_SECRET = "7000000042", "s3cr3t-for-xss_0123456789abcdef"
PAGE_ID = "104857301234567"


# --- Delivery through the real webhook endpoints ----------------------------------------------


def _sim_events(now) -> list[dict]:
    """Every payload as its own conversation (subject, preview, contact name, handle, profile),
    and all of them again as messages of one shared thread, with attachments named by them."""
    at = now - timedelta(hours=3)  # old enough to be at risk or breached on the dashboard
    events = []
    for n, payload in enumerate(PAYLOADS):
        short = payload[:200]
        author = {"id": f"x{n}", "handle": short, "name": payload[:300], "location": short}
        events.append({
            "type": "message", "id": f"own-{n}", "thread_id": f"own-{n}", "channel": "mention", "from": author,
            "text": payload, "created_at": (at + timedelta(seconds=n)).isoformat(),
        })
        events.append({
            "type": "message", "id": f"shared-{n}", "thread_id": "shared", "channel": "mention",
            "from": author, "text": payload, "created_at": (at + timedelta(minutes=1, seconds=n)).isoformat(),
            "attachments": [
                {"type": "image", "url": URL_PAYLOADS[n % len(URL_PAYLOADS)], "name": short},
                {"type": short, "url": f"https://example.org/{short}", "name": ""},
            ],
        })
    return events


def _telegram_updates(now) -> list[dict]:
    updates = []
    for n, payload in enumerate(PAYLOADS[:24]):
        person = {"id": 500 + n, "is_bot": False, "first_name": payload[:64], "last_name": payload[-64:],
                  "username": f"user{n}", "language_code": "ca"}
        message = {"message_id": 1000 + n, "from": person, "chat": {**person, "type": "private"},
                   "date": int(now.timestamp()) - 3600 + n}
        if n % 2:
            message["document"] = {"file_name": payload[:200], "mime_type": "application/pdf",
                                   "file_id": f"BQAC{n}", "file_unique_id": f"u{n}", "file_size": 1000}
            message["caption"] = payload
        else:
            message["text"] = payload
        updates.append({"update_id": 900000 + n, "message": message})
    return updates


def _meta_body(now) -> bytes:
    changes = [{"field": "feed", "value": {
        "from": {"id": f"73019283746{n:05d}", "name": payload[:200]},
        "post": {"status_type": "added_photos", "is_published": True, "updated_time": "2026-11-20T09:00:00+0000",
                 "permalink_url": URL_PAYLOADS[n % len(URL_PAYLOADS)], "id": f"{PAGE_ID}_10293847564{n:05d}"},
        "message": payload, "post_id": f"{PAGE_ID}_10293847564{n:05d}",
        "comment_id": f"10293847564{n:05d}_12039485760{n:05d}", "created_time": int(now.timestamp()) - 3600,
        "item": "comment", "parent_id": f"{PAGE_ID}_10293847564{n:05d}", "verb": "add",
    }} for n, payload in enumerate(PAYLOADS[:16])]
    messaging = [{
        "sender": {"id": "6512345678901234"}, "recipient": {"id": PAGE_ID},
        "timestamp": int(now.timestamp() * 1000) - 60_000,
        "message": {"mid": "m_xss_attachments", "text": PAYLOADS[1], "attachments": [
            {"type": "image", "payload": {"url": url}} for url in URL_PAYLOADS[7:19]
        ]},
    }]
    return json.dumps({"object": "page", "entry": [
        {"id": PAGE_ID, "time": int(now.timestamp() * 1000), "changes": changes},
        {"id": PAGE_ID, "time": int(now.timestamp() * 1000), "messaging": messaging},
    ]}).encode()


def _deliver_everything(team, admin, officer) -> dict:
    now = timezone.now()
    ChannelAccount.objects.create(platform="simulator", external_id="city-sim", name="City (simulated)",
                                  handle="city", default_team=team)
    ChannelAccount.objects.create(platform="telegram", external_id=BOT_ID, name="012 Telegram", handle="city_bot",
                                  default_team=team, credentials={"bot_token": f"{BOT_ID}:AAH-not-real",
                                                                  "webhook_secret": BOT_SECRET})
    ChannelAccount.objects.create(platform="facebook", external_id=PAGE_ID, name="City page", handle="citypage",
                                  default_team=team, credentials={"page_access_token": "EAAG-not-real"})
    client = Client()
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # no platform is called from here
        response = post_sim(client, sim_body(_sim_events(now)))
        assert response.status_code == 200, response.content
        for update in _telegram_updates(now):
            response = committed(client.post, "/webhooks/telegram/", data=json.dumps(update).encode(),
                                 content_type="application/json",
                                 headers={TELEGRAM_SECRET: secret_token(BOT_ID, BOT_SECRET)})
            assert response.status_code == 200, response.content
        body = _meta_body(now)
        response = committed(client.post, "/webhooks/meta/", data=body, content_type="application/json",
                             headers={META_SIGNATURE: meta_sign(body)})
        assert response.status_code == 200, response.content

    shared = Conversation.objects.get(thread_key="mention:shared")
    counts = {p: Message.objects.filter(account__platform=p).count() for p in ("simulator", "telegram", "facebook")}
    assert counts == {"simulator": 2 * len(PAYLOADS), "telegram": 24, "facebook": 17}, counts
    # An officer's reply held for approval, quoting a payload (officers paste what citizens wrote).
    ReplyDraft.objects.create(conversation=shared, author=officer, text=PAYLOADS[1] + " " + PAYLOADS[25],
                              option="public", visibility="public")
    conversations = list(Conversation.objects.order_by("pk").values_list("pk", flat=True))
    own = {n: Conversation.objects.get(thread_key=f"mention:own-{n}").pk for n in OWN_PAGES}
    other_channels = [
        Conversation.objects.filter(account__platform=platform).order_by("pk").values_list("pk", flat=True)[i]
        for platform, i in (("telegram", 0), ("telegram", 1), ("facebook", 0), ("facebook", 16))
    ]
    contacts = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
    messages = list(Message.objects.filter(conversation=shared).order_by("pk").values_list("pk", flat=True))
    cookie_client = login(admin)
    return {"raw_event": RawEvent.objects.filter(account__platform="simulator").values_list("pk", flat=True)[0],
            "shared": shared.pk, "conversations": conversations, "own": own, "other_channels": other_channels, "contacts": contacts, "messages": messages,
            "session": cookie_client.cookies[django_settings.SESSION_COOKIE_NAME].value}


def _cast(django_user_model):
    from django.contrib.auth.models import Group

    from inbox.models import Team
    from inbox.permissions import ADMIN, OFFICER, SUPERVISOR, team_member_add

    team = Team.objects.create(name="Mobility", slug="mobility")
    admin = django_user_model.objects.create_user("root", password="x", is_staff=True, is_superuser=True)
    admin.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    team_member_add(team, admin, SUPERVISOR)
    officer = django_user_model.objects.create_user("alice", password="x")
    team_member_add(team, officer, OFFICER)
    return team, admin, officer


# --- The walk ---------------------------------------------------------------------------------


def _pages(world: dict) -> list[str]:
    shared = world["shared"]
    contacts, messages = world["contacts"], world["messages"]
    return [
        "/inbox/", "/inbox/?status=all", f"/inbox/c/{shared}/",
        # A citizen's own conversation puts the payload in the title, the heading, the citizen's
        # card: the attribute breakers, the closing tags, a script and an image, then Telegram's
        # and Meta's.
        *[f"/inbox/c/{world['own'][n]}/" for n in OWN_PAGES],
        *[f"/inbox/c/{pk}/" for pk in world["other_channels"]],
        "/dashboard/", "/inbox/approvals/", "/records/audit/", "/records/people/", "/records/holds/",
        "/admin/inbox/contact/", f"/admin/inbox/contact/{contacts[0]}/change/",
        f"/admin/inbox/contact/{contacts[-1]}/change/",
        "/admin/inbox/conversation/", f"/admin/inbox/conversation/{shared}/change/",
        "/admin/inbox/message/", f"/admin/inbox/message/{messages[1]}/change/",
        f"/admin/inbox/message/{messages[-1]}/change/", f"/admin/inbox/rawevent/{world['raw_event']}/change/",
    ]


def _walk(browser, base: str, session: str, pages: list[str], *, bypass_csp: bool) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=bypass_csp)
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": base}])
    calls: list[tuple[str, object]] = []
    context.expose_function("__xss", lambda n: calls.append((page.url, n)))
    context.add_init_script("""
        document.addEventListener("securitypolicyviolation", e =>
            console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI + " "
                          + (e.sample || "") + " " + (e.sourceFile || "") + ":" + (e.lineNumber || "")));
    """)
    page = context.new_page()
    page.set_default_timeout(20_000)
    violations: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: violations.append(f"{page.url}: {m.text}") if "CSP violation" in m.text else None)
    page.on("dialog", lambda d: (dialogs.append(f"{page.url}: {d.message}"), d.dismiss()))
    born: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    for path in pages:
        response = page.goto(base + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(100)  # an onload/onfocus/ontoggle fires after load, if it exists
        found = page.evaluate(PAYLOAD_BORN)
        if found:
            born[path] = found
        texts[path] = page.evaluate("() => document.body.innerText")
        if not bypass_csp and path in (pages[0], pages[2]):
            page.screenshot(path=str(ARTIFACTS / f"xss-{'queue' if path == pages[0] else 'conversation'}.png"))
    control = {}
    if bypass_csp:
        # The detectors work: a payload put into the page now, past the escaping, runs and is found.
        page.evaluate("""document.body.insertAdjacentHTML("beforeend", '<img src=x onerror=__xss(-1)>')""")
        page.wait_for_function("() => document.querySelector('img[src=x]') !== null")
        page.wait_for_timeout(500)
        control = {"calls": [n for _, n in calls], "born": page.evaluate(PAYLOAD_BORN)}
        calls[:] = [c for c in calls if c[1] != -1]
    context.close()
    return {"calls": calls, "violations": violations, "dialogs": dialogs, "born": born, "texts": texts,
            "control": control}


def test_injection_payloads_from_every_channel_render_as_text_on_every_page(
        live_server, django_user_model, settings):
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.CSRF_COOKIE_SECURE = False
    ARTIFACTS.mkdir(exist_ok=True)
    team, admin, officer = off_the_event_loop(_cast, django_user_model)
    world = off_the_event_loop(_deliver_everything, team, admin, officer)
    pages = _pages(world)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            enforced = _walk(browser, live_server.url, world["session"], pages, bypass_csp=False)
            bypassed = _walk(browser, live_server.url, world["session"], pages, bypass_csp=True)
        finally:
            browser.close()

    assert bypassed["control"]["calls"][-1:] == [-1], bypassed["control"]
    assert any("img" in found for found in bypassed["control"]["born"]), bypassed["control"]
    for name, walk in (("under the CSP", enforced), ("with the CSP bypassed", bypassed)):
        assert walk["calls"] == [], f"a payload ran {name}: {walk['calls']}"
        assert walk["dialogs"] == [], f"a payload opened a dialog {name}: {walk['dialogs']}"
        assert walk["born"] == {}, f"payload-born elements {name}:\n" + json.dumps(walk["born"], indent=1)
    assert enforced["violations"] == [], "\n".join(enforced["violations"])

    # Template syntax is text: shown as it arrived, never evaluated.
    shared_text = enforced["texts"][f"/inbox/c/{world['shared']}/"]
    for n, literal in LITERALS.items():
        assert literal in shared_text, literal
        assert f"tpl-{n}: 49" not in shared_text
    # And every payload is there, character for character (the long one included).
    for payload in PAYLOADS:
        assert " ".join(payload.split()) in " ".join(shared_text.split()), payload[:80]
