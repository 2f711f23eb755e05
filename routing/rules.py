"""The rule engine: validate a rule, compile it once per version, evaluate batches.

A rule is JSON (docs/routing.md)::

    {"name": "Residus (ca)", "position": 10, "enabled": true, "mode": "active", "stop": true,
     "conditions": {"all": [{"field": "language", "op": "in", "value": ["ca"]},
                            {"field": "text", "op": "contains_any", "value": ["escombraries", "residus"]}]},
     "actions": [{"type": "route_to_team", "team": "waste"}, {"type": "set_priority", "value": "high"}]}

``rule_validate`` refuses a malformed tree with the path of the first error
(``conditions.all[1].value``) and a regular expression that does not compile or nests
quantifiers (the shape that backtracks catastrophically); evaluation also runs every
expression with a time guard (``regex``'s ``timeout=``), so a pattern that slips through
costs at most ``REGEX_TIMEOUT`` per message and never stops ingestion.

Compiled rules are kept per process, keyed by (rule id, version); a generation counter in
the Django cache (Redis) says when any rule changed, and ``ruleset()`` reads it once per
batch. This module reads and evaluates; ``routing.rules_services`` writes rules and
``routing.services.conversations_route`` applies what matched.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import regex
from django.core.cache import cache
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

REGEX_TIMEOUT = 0.005  # seconds per message and expression
MAX_DEPTH = 8
MAX_LIST = 500
GENERATION_KEY = "routing:rules:generation"

KINDS = ("mention", "comment", "reply", "dm", "email")
PRIORITIES = {"low": 0, "normal": 1, "high": 2, "urgent": 3}

# field -> allowed ops -> kind of value
FIELDS: dict[str, dict[str, str]] = {
    "platform": {"in": "strings"},
    "account": {"in": "ids"},
    "kind": {"in": "kinds"},
    "first_message": {"is": "bool"},
    "text": {"contains_any": "words", "matches": "regex"},
    "language": {"in": "strings"},
    "contact_verified": {"is": "bool"},
    "contact_followers": {"gte": "count"},
    "contact_list": {"in": "strings"},
    "service_hours": {"is": "hours"},
    "has_attachment": {"is": "bool"},
}

ACTIONS: dict[str, dict[str, str]] = {
    # action type -> field -> kind of value (a trailing "?" marks an optional field)
    # "reassign": on a follow-up, act even on a conversation an officer holds (rules_apply).
    "route_to_team": {"team": "slug", "reassign?": "bool"},
    "set_priority": {"value": "priority"},
    "add_tags": {"tags": "strings"},
    "assign_to": {"user": "slug", "reassign?": "bool"},
    "auto_reply": {"saved_reply": "id", "delay_minutes?": "count"},
    "mark_spam": {"reassign?": "bool"},
    "apply_sla_policy": {"policy": "id"},
}


class RuleInvalid(ValueError):
    """A rule that cannot be saved: ``path`` says where (``conditions.all[1].value``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# --- text ------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
# Every mark with a combining class (what ``unicodedata.combining`` is true for), removed in
# one C pass instead of a Python loop over the characters (a third of tokenising's time).
_MARKS = regex.compile(r"\P{ccc=0}+")


def fold(text: str) -> str:
    """Lower case without accents: ``Mercè`` → ``merce``, ``RESIDUS`` → ``residus``."""
    if text.isascii():  # most messages: NFKD and case folding change nothing but the case
        return text.lower()
    return _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))


def words_of(text: str) -> list[str]:
    return _WORD.findall(fold(text))


# --- validation ------------------------------------------------------------------------------


def _nested_quantifier(pattern: str) -> bool:
    """True if a repeated group holds another unbounded repeat: ``(a+)+``, ``(\\w+\\s?)*``.

    That shape backtracks exponentially on a near miss. The parse is the standard library's
    (the ``regex`` package reads a superset); a pattern it cannot read is judged on its text.
    """
    try:
        from re import _parser as sre_parse  # Python 3.11+
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef]
    try:
        tree = sre_parse.parse(pattern)
    except Exception:
        return bool(re.search(r"\([^()]*[+*}][^()]*\)\s*[+*{]", pattern))
    repeats = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT}

    def walk(items, inside_repeat: bool) -> bool:
        for op, av in items:
            if op in repeats:
                _low, high, sub = av
                unbounded = high is sre_parse.MAXREPEAT or high > 1
                if unbounded and inside_repeat:
                    return True
                if walk(sub, inside_repeat or unbounded):
                    return True
            elif op is sre_parse.SUBPATTERN:
                if walk(av[-1], inside_repeat):
                    return True
            elif op is sre_parse.BRANCH:
                if any(walk(branch, inside_repeat) for branch in av[1]):
                    return True
            elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT) and walk(av[1], inside_repeat):
                return True
        return False

    return walk(tree, False)


def required_literal(pattern: str) -> str:
    """The longest run of plain ASCII letters and digits that every match of ``pattern``
    contains (``\\bbus\\s+\\d+`` → ``bus``), case-folded; "" when there is none or the
    pattern cannot be read. ASCII only: a character that matches an ASCII letter under
    ``IGNORECASE`` (``K`` for Kelvin, ``ſ``) case-folds to it, so "not in the case-folded
    text" proves there is no match."""
    try:
        from re import _parser as sre_parse  # Python 3.11+
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef]
    try:
        tree = sre_parse.parse(pattern)
    except Exception:
        return ""
    if any(op is sre_parse.BRANCH for op, _av in tree):
        return ""  # top-level alternatives: nothing is required of every match
    best, run = "", ""
    for op, av in tree:
        ch = chr(av) if op is sre_parse.LITERAL else ""
        if ch.isascii() and ch.isalnum():
            run += ch.lower()
            best = max(best, run, key=len)
        elif op is sre_parse.AT:
            continue  # \b, ^ and $ match no character: the run goes on
        else:
            run = ""
    return best


def regex_check(pattern: Any, path: str) -> regex.Pattern:
    if not isinstance(pattern, str) or not pattern.strip():
        raise RuleInvalid(path, _("A regular expression is required."))
    if len(pattern) > 500:
        raise RuleInvalid(path, _("The regular expression is too long (500 characters at most)."))
    try:
        compiled = regex.compile(pattern, regex.IGNORECASE)
    except regex.error as exc:
        raise RuleInvalid(path, _("The regular expression does not compile: %(error)s") % {"error": exc}) from exc
    if _nested_quantifier(pattern):
        raise RuleInvalid(path, _(
            "The regular expression nests repetitions (like (a+)+), which can take exponential "
            "time on some messages. Rewrite it without a repeated group that itself repeats."))
    return compiled


def _check_value(kind: str, value: Any, path: str) -> None:
    def strings(allow_empty=False):
        if not isinstance(value, list) or (not value and not allow_empty):
            raise RuleInvalid(path, _("A non-empty list is required."))
        if len(value) > MAX_LIST:
            raise RuleInvalid(path, _("At most %(n)s values.") % {"n": MAX_LIST})
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise RuleInvalid(f"{path}[{i}]", _("A non-empty text is required."))

    if kind in ("strings", "words"):
        strings()
        if kind == "words":
            for i, item in enumerate(value):
                if not words_of(item):
                    raise RuleInvalid(f"{path}[{i}]", _("A word or phrase needs letters or digits."))
    elif kind == "kinds":
        strings()
        for i, item in enumerate(value):
            if item not in KINDS:
                raise RuleInvalid(f"{path}[{i}]", _("Unknown kind “%(value)s”; one of: %(choices)s.")
                                  % {"value": item, "choices": ", ".join(KINDS)})
    elif kind == "ids":
        if not isinstance(value, list) or not value:
            raise RuleInvalid(path, _("A non-empty list is required."))
        for i, item in enumerate(value):
            if not isinstance(item, int) or isinstance(item, bool) or item <= 0:
                raise RuleInvalid(f"{path}[{i}]", _("An id (a positive whole number) is required."))
    elif kind == "bool":
        if not isinstance(value, bool):
            raise RuleInvalid(path, _("true or false is required."))
    elif kind == "count":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RuleInvalid(path, _("A whole number, 0 or more, is required."))
    elif kind == "hours":
        if value not in ("inside", "outside"):
            raise RuleInvalid(path, _("“inside” or “outside” is required."))
    elif kind == "regex":
        regex_check(value, path)
    elif kind == "slug":
        if not isinstance(value, str) or not value.strip():
            raise RuleInvalid(path, _("A name is required."))
    elif kind == "id":
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise RuleInvalid(path, _("An id (a positive whole number) is required."))
    elif kind == "priority" and value not in PRIORITIES:
        raise RuleInvalid(path, _("One of: %(choices)s.") % {"choices": ", ".join(PRIORITIES)})


def conditions_validate(node: Any, path: str = "conditions", depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise RuleInvalid(path, _("Conditions are nested too deeply (%(n)s levels at most).") % {"n": MAX_DEPTH})
    if not isinstance(node, dict):
        raise RuleInvalid(path, _("A condition must be an object."))
    if depth == 0 and not node:
        return  # no conditions: the rule matches every message
    groups = [k for k in ("all", "any", "not") if k in node]
    if groups:
        if len(node) != 1:
            raise RuleInvalid(path, _("A group has exactly one key: all, any or not."))
        key = groups[0]
        child = node[key]
        if key == "not":
            conditions_validate(child, f"{path}.not", depth + 1)
            return
        if not isinstance(child, list) or not child:
            raise RuleInvalid(f"{path}.{key}", _("A non-empty list of conditions is required."))
        for i, item in enumerate(child):
            conditions_validate(item, f"{path}.{key}[{i}]", depth + 1)
        return
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        raise RuleInvalid(path, _("Unknown key(s): %(keys)s.") % {"keys": ", ".join(sorted(unknown))})
    name = node.get("field")
    if name not in FIELDS:
        raise RuleInvalid(f"{path}.field", _("Unknown field “%(value)s”; one of: %(choices)s.")
                          % {"value": name, "choices": ", ".join(FIELDS)})
    op = node.get("op")
    if op not in FIELDS[name]:
        raise RuleInvalid(f"{path}.op", _("Operator “%(value)s” does not apply to %(field)s; use: %(choices)s.")
                          % {"value": op, "field": name, "choices": ", ".join(FIELDS[name])})
    if "value" not in node:
        raise RuleInvalid(f"{path}.value", _("A value is required."))
    _check_value(FIELDS[name][op], node["value"], f"{path}.value")


def actions_validate(actions: Any, path: str = "actions") -> None:
    if not isinstance(actions, list):
        raise RuleInvalid(path, _("A list of actions is required."))
    for i, action in enumerate(actions):
        here = f"{path}[{i}]"
        if not isinstance(action, dict):
            raise RuleInvalid(here, _("An action must be an object."))
        kind = action.get("type")
        if kind not in ACTIONS:
            raise RuleInvalid(f"{here}.type", _("Unknown action “%(value)s”; one of: %(choices)s.")
                              % {"value": kind, "choices": ", ".join(ACTIONS)})
        spec = ACTIONS[kind]
        allowed = {k.rstrip("?") for k in spec} | {"type"}
        unknown = set(action) - allowed
        if unknown:
            raise RuleInvalid(here, _("Unknown key(s): %(keys)s.") % {"keys": ", ".join(sorted(unknown))})
        for key, value_kind in spec.items():
            name = key.rstrip("?")
            if name not in action:
                if key.endswith("?"):
                    continue
                raise RuleInvalid(f"{here}.{name}", _("A value is required."))
            _check_value(value_kind, action[name], f"{here}.{name}")


def rule_validate(conditions: Any, actions: Any) -> None:
    conditions_validate(conditions)
    actions_validate(actions)


# --- the facts a rule looks at ---------------------------------------------------------------


class Subject:
    """One message as the rules see it. Costly facts (lists, service hours) are computed on
    first use, so a rule set that never asks about them never pays for them."""

    __slots__ = (
        "_inside",
        "_inside_of",
        "_lists",
        "_lists_of",
        "_lowered",
        "_padded",
        "_words",
        "account_id",
        "first_message",
        "followers",
        "has_attachment",
        "kind",
        "language",
        "platform",
        "text",
        "timeouts",
        "verified",
    )

    def __init__(self, *, platform: str, account_id: int, kind: str, first_message: bool, text: str,
                 language: str = "", verified: bool = False, followers: int = 0, has_attachment: bool = False,
                 lists_of: Callable[[], frozenset[str]] | None = None,
                 inside_of: Callable[[], bool] | None = None) -> None:
        self.platform, self.account_id, self.kind = platform, account_id, kind
        self.first_message, self.text, self.language = first_message, text or "", language or ""
        self.verified, self.followers, self.has_attachment = verified, followers, has_attachment
        self._words: frozenset[str] | None = None
        self._padded: str | None = None
        self._lowered: str | None = None
        self._lists: frozenset[str] | None = None
        self._lists_of = lists_of
        self._inside: bool | None = None
        self._inside_of = inside_of
        self.timeouts: list[str] = []

    @property
    def words(self) -> frozenset[str]:
        if self._words is None:
            tokens = words_of(self.text)
            self._words = frozenset(tokens)
            self._padded = f" {' '.join(tokens)} "
        return self._words

    @property
    def lowered(self) -> str:
        """The text case-folded (accents kept), for the regular expressions' literals."""
        if self._lowered is None:
            self._lowered = self.text.lower() if self.text.isascii() else self.text.casefold()
        return self._lowered

    @property
    def padded(self) -> str:
        if self._padded is None:
            self.words  # noqa: B018 - fills _padded
        return self._padded  # type: ignore[return-value]

    @property
    def lists(self) -> frozenset[str]:
        if self._lists is None:
            self._lists = self._lists_of() if self._lists_of else frozenset()
        return self._lists

    @property
    def inside_hours(self) -> bool:
        if self._inside is None:
            self._inside = self._inside_of() if self._inside_of else True
        return self._inside


# --- compilation -----------------------------------------------------------------------------

Test = Callable[[Subject], bool]


@dataclass(frozen=True)
class Leaf:
    path: str
    field: str
    op: str
    value: Any
    test: Test


@dataclass(frozen=True)
class Group:
    path: str
    kind: str  # all, any, not
    children: tuple
    test: Test


def _leaf_test(name: str, op: str, value: Any, path: str) -> Test:
    if name == "text" and op == "contains_any":
        singles = frozenset(w[0] for w in (words_of(v) for v in value) if len(w) == 1)
        phrases = tuple(f" {' '.join(w)} " for w in (words_of(v) for v in value) if len(w) > 1)
        if not phrases:
            return lambda s: not singles.isdisjoint(s.words)
        return lambda s: (not singles.isdisjoint(s.words)) or any(p in s.padded for p in phrases)
    if name == "text" and op == "matches":
        pattern = regex.compile(value, regex.IGNORECASE)
        literal = required_literal(value)

        def matches(s: Subject) -> bool:
            # A text without the literal every match contains cannot match: one substring
            # test (50 ns) instead of a guarded search (2–8 µs) for most messages.
            if literal and literal not in s.lowered:
                return False
            try:
                return pattern.search(s.text, timeout=REGEX_TIMEOUT) is not None
            except TimeoutError:
                s.timeouts.append(path)
                return False
        return matches
    if name == "platform":
        platforms = frozenset(value)
        return lambda s: s.platform in platforms
    if name == "account":
        accounts = frozenset(value)
        return lambda s: s.account_id in accounts
    if name == "kind":
        kinds = frozenset(value)
        return lambda s: s.kind in kinds
    if name == "language":
        languages = frozenset(v.strip().lower() for v in value)
        return lambda s: s.language in languages
    if name == "first_message":
        return (lambda s: s.first_message) if value else (lambda s: not s.first_message)
    if name == "contact_verified":
        return (lambda s: s.verified) if value else (lambda s: not s.verified)
    if name == "contact_followers":
        return lambda s: s.followers >= value
    if name == "contact_list":
        slugs = frozenset(value)
        return lambda s: not slugs.isdisjoint(s.lists)
    if name == "service_hours":
        return (lambda s: s.inside_hours) if value == "inside" else (lambda s: not s.inside_hours)
    if name == "has_attachment":
        return (lambda s: s.has_attachment) if value else (lambda s: not s.has_attachment)
    raise RuleInvalid(path, f"unknown field {name}")  # validated before: never reached


def _all(tests: Sequence[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda s: a(s) and b(s)

    def test(s: Subject) -> bool:  # a plain loop: a third faster than all() over a generator
        for t in tests:  # noqa: SIM110
            if not t(s):
                return False
        return True
    return test


def _any(tests: Sequence[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]

    def test(s: Subject) -> bool:
        for t in tests:  # noqa: SIM110
            if t(s):
                return True
        return False
    return test


# Relative cost of a condition: cheap facts first, so that "all"/"any" short-cut before the
# words, and a regular expression (8 µs with its time guard) runs only when the rest holds.
_COST = {"matches": 100, "contains_any": 5}
_FIELD_COST = {"contact_list": 20, "service_hours": 20}


def _cost(node) -> int:
    if isinstance(node, Leaf):
        return _COST.get(node.op) or _FIELD_COST.get(node.field, 1)
    return sum(_cost(c) for c in node.children) or 1


def compile_conditions(node: dict, path: str = "conditions") -> Leaf | Group:
    """The tree keeps the rule's order (the trace reads it); its tests run cheapest first."""
    if not node:
        return Group(path, "all", (), lambda s: True)
    for kind in ("all", "any"):
        if kind in node:
            children = tuple(compile_conditions(c, f"{path}.{kind}[{i}]") for i, c in enumerate(node[kind]))
            combine = _all if kind == "all" else _any
            return Group(path, kind, children, combine([c.test for c in sorted(children, key=_cost)]))
    if "not" in node:
        child = compile_conditions(node["not"], f"{path}.not")
        inner = child.test
        return Group(path, "not", (child,), lambda s: not inner(s))
    return Leaf(path, node["field"], node["op"], node["value"],
                _leaf_test(node["field"], node["op"], node["value"], path))


def explain(node: Leaf | Group, subject: Subject) -> list[dict]:
    """Every condition's result (no short cut), for the trace and the dry run."""
    out: list[dict] = []

    def walk(n) -> bool:
        if isinstance(n, Leaf):
            result = n.test(subject)
            out.append({"path": n.path, "field": n.field, "op": n.op, "value": n.value, "result": result})
            return result
        results = [walk(c) for c in n.children]
        if n.kind == "all":
            return all(results)
        if n.kind == "any":
            return any(results)
        return not results[0]

    walk(node)
    return out


@dataclass
class CompiledRule:
    id: int
    version: int
    version_id: int | None
    name: str
    position: int
    mode: str
    stop: bool
    tree: Leaf | Group
    actions: list[dict]
    fields: frozenset[str] = field(default_factory=frozenset)
    # The languages the rule requires (a top-level "language in [...]"), or None: the
    # rule set's index tries a rule only on messages in one of them.
    languages: frozenset[str] | None = None
    # The words the rule requires (a top-level "text contains_any" of single words), or None:
    # the index tries the rule only on messages that contain one of them.
    words: frozenset[str] | None = None

    @property
    def shadow(self) -> bool:
        return self.mode == "shadow"

    def matches(self, subject: Subject) -> bool:
        return self.tree.test(subject)


def _fields_of(node: dict) -> set[str]:
    if not node:
        return set()
    if "field" in node:
        return {node["field"]}
    out: set[str] = set()
    for kind in ("all", "any"):
        for child in node.get(kind, ()):
            out |= _fields_of(child)
    if "not" in node:
        out |= _fields_of(node["not"])
    return out


def _required_languages(tree) -> frozenset[str] | None:
    leaves = [tree] if isinstance(tree, Leaf) else (tree.children if tree.kind == "all" else ())
    for leaf in leaves:
        if isinstance(leaf, Leaf) and leaf.field == "language" and leaf.op == "in":
            return frozenset(v.strip().lower() for v in leaf.value)
    return None


def _required_words(tree) -> frozenset[str] | None:
    leaves = [tree] if isinstance(tree, Leaf) else (tree.children if tree.kind == "all" else ())
    for leaf in leaves:
        if isinstance(leaf, Leaf) and leaf.field == "text" and leaf.op == "contains_any":
            tokens = [words_of(v) for v in leaf.value]
            if all(len(t) == 1 for t in tokens):
                return frozenset(t[0] for t in tokens)
    return None


def rule_compile(*, id: int, version: int, version_id: int | None, name: str, position: int, mode: str,
                 stop: bool, conditions: dict, actions: list) -> CompiledRule:
    tree = compile_conditions(conditions or {})
    return CompiledRule(
        id=id, version=version, version_id=version_id, name=name, position=position, mode=mode, stop=stop,
        tree=tree, actions=list(actions or []), fields=frozenset(_fields_of(conditions or {})),
        languages=_required_languages(tree), words=_required_words(tree),
    )


# --- the process's rule set ------------------------------------------------------------------


@dataclass
class Ruleset:
    generation: str
    rules: list[CompiledRule]
    fields: frozenset[str]
    last_shadow: int  # index of the last shadow rule (-1: none): evaluation may stop after it

    _by_language: dict[str, tuple] = field(default_factory=dict)

    def needs(self, name: str) -> bool:
        return name in self.fields

    def _index(self, language: str) -> tuple:
        """For messages in ``language``: the rules that can match, in order; the positions
        of those that need no particular word; and word → positions of those that do."""
        hit = self._by_language.get(language)
        if hit is None:
            rules = [r for r in self.rules if r.languages is None or language in r.languages]
            always = [i for i, r in enumerate(rules) if r.words is None]
            by_word: dict[str, list[int]] = {}
            for i, r in enumerate(rules):
                for word in r.words or ():
                    by_word.setdefault(word, []).append(i)
            hit = (rules, always, by_word)
            self._by_language[language] = hit
        return hit

    def candidates(self, subject: Subject) -> tuple[list[CompiledRule], int]:
        """The rules worth trying on ``subject``, in order, and the index of the last shadow
        rule among them. A rule that requires another language, or words the message does
        not contain, cannot match and is not tried: with 500 rules that is most of them."""
        rules, always, by_word = self._index(subject.language)
        if not by_word:
            chosen = rules
        else:
            positions = set(always)
            for word in subject.words:
                found = by_word.get(word)
                if found:
                    positions.update(found)
            chosen = [rules[i] for i in sorted(positions)]
        return chosen, max((i for i, r in enumerate(chosen) if r.shadow), default=-1)


_state: dict[str, Any] = {"generation": None, "ruleset": None}
_compiled: dict[tuple[int, int], CompiledRule] = {}


def rules_changed() -> None:
    """Tell every process that the rules changed (call on commit of a change)."""
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def _generation() -> str | None:
    try:
        value = cache.get(GENERATION_KEY)
        if value is None:
            value = uuid.uuid4().hex
            if not cache.add(GENERATION_KEY, value, timeout=None):
                value = cache.get(GENERATION_KEY)
        return value
    except Exception:
        logger.warning("routing: rule generation unknown (cache unavailable); reloading rules")
        return None


def ruleset() -> Ruleset:
    """The enabled rules in order, compiled; one cache read per call when nothing changed."""
    from routing.models import RoutingRule

    generation = _generation()
    current = _state["ruleset"]
    if current is not None and generation is not None and generation == _state["generation"]:
        return current
    rows = (
        RoutingRule.objects.filter(enabled=True, deleted_at__isnull=True).order_by("position", "id")
        .values("id", "version", "name", "position", "mode", "stop", "conditions", "actions")
    )
    from routing.models import RoutingRuleVersion

    rows = list(rows)
    version_ids = {
        (rule_id, number): vid for rule_id, number, vid in
        RoutingRuleVersion.objects.filter(rule_id__in=[r["id"] for r in rows]).values_list("rule_id", "number", "id")
    } if rows else {}
    rules = []
    for row in rows:
        key = (row["id"], row["version"])
        compiled = _compiled.get(key)
        if compiled is None or compiled.position != row["position"]:
            try:
                compiled = rule_compile(version_id=version_ids.get(key), **row)
            except Exception:
                logger.exception("routing: rule %s v%s does not compile; skipped", row["id"], row["version"])
                continue
            _compiled[key] = compiled
        rules.append(compiled)
    live = {(r.id, r.version) for r in rules}
    for key in [k for k in _compiled if k not in live]:
        del _compiled[key]
    last_shadow = max((i for i, r in enumerate(rules) if r.shadow), default=-1)
    result = Ruleset(generation or "", rules, frozenset().union(*(r.fields for r in rules)), last_shadow)
    _state.update(generation=generation, ruleset=result)
    return result


# --- evaluation ------------------------------------------------------------------------------


@dataclass
class Evaluation:
    tried: list[list] = field(default_factory=list)  # [rule_id, version, matched]
    matched: list[CompiledRule] = field(default_factory=list)  # in order, active and shadow

    @property
    def active(self) -> list[CompiledRule]:
        return [r for r in self.matched if not r.shadow]


def evaluate(rules: Sequence[CompiledRule], subject: Subject, *, last_shadow: int = -1) -> Evaluation:
    """Try the rules in order. After an active rule that stops, only shadow rules are still
    tried (they see every message, so an admin learns what they would do)."""
    result = Evaluation()
    stopped = False
    tried, matched = result.tried, result.matched
    for index, rule in enumerate(rules):
        if stopped:
            if index > last_shadow:
                break
            if not rule.shadow:
                continue
        hit = rule.tree.test(subject)
        tried.append([rule.id, rule.version, hit])
        if hit:
            matched.append(rule)
            if rule.stop and not rule.shadow:
                stopped = True
    return result


def evaluate_many(ruleset_: Ruleset, subjects: Iterable[Subject]) -> list[Evaluation]:
    out = []
    for subject in subjects:
        rules, last_shadow = ruleset_.candidates(subject)
        out.append(evaluate(rules, subject, last_shadow=last_shadow))
    return out


def inside_hours_of(calendar_model, at: datetime) -> Callable[[], bool]:
    """Whether ``at`` falls in the account's service hours (no calendar: always inside)."""
    def inside() -> bool:
        if calendar_model is None:
            return True
        from routing.calendars import calendar_for

        try:
            return calendar_for(calendar_model).is_open(at)
        except Exception:
            logger.exception("routing: calendar %s cannot answer; counted as inside hours", calendar_model.pk)
            return True
    return inside
