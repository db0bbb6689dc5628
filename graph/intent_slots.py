"""Targets and exclusions in operator messages, by rules over the twin's own names.

The embedding model says *what* to do; this module says *to what*.  Only names that
exist in the twin come back (hosts, subnets, roles), so a plan never aims at a host the
network lacks.  Subnets are named, or numbered from 0 in the twin's order ("subnet 3" is
``net.subnets[3]``, the same numbering as the ``sub3`` names of generated networks).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from twin.network import Network

SLOT_KINDS = ("hosts", "subnets", "roles")
FUZZY_CUTOFF = 0.85  # "srv-web-1" -> srv-web-01, but "srv-web-05" stays unknown

#: Operator words -> the role they mean; only roles present in the twin are kept.
ROLE_WORDS = {
    "web": "web", "webserver": "web", "frontend": "web", "app": "app", "application": "app",
    "db": "db", "database": "db", "sql": "db", "workstation": "workstation", "pc": "workstation",
    "laptop": "workstation", "desktop": "workstation", "endpoint": "workstation", "dc": "dc",
    "dns": "dns", "mail": "mail", "exchange": "mail", "backup": "backup",
    "gateway": "gateway", "firewall": "gateway", "proxy": "proxy", "vpn": "vpn", "siem": "siem",
    "bastion": "bastion", "router": "router", "switch": "switch", "storage": "storage",
}
ROLE_PHRASES = {
    r"domain\s+controllers?": "dc", r"file\s+(?:servers?|shares?)": "file", r"jump\s+(?:hosts?|box(?:es)?)": "bastion",
    r"load\s+balancers?": "proxy", r"admin\s+workstations?": "admin-workstation", r"print(?:er)?s?(?:\s+servers?)?":
    "print", r"(?:update|wsus|patch)\s+servers?": "update", r"build\s+(?:servers?|machines?)|\bci\s+servers?": "build",
    r"log(?:ging)?\s+servers?": "siem", r"monitoring(?:\s+servers?)?": "monitoring", r"data\s+tier": "db",
    r"e-?mail\s+(?:servers?|box(?:es)?)": "mail",
}
#: Roles that are also everyday words: only the phrases above find them ("apply updates" is no role).
WEAK_ROLES = frozenset({"update", "print", "build", "file", "monitoring"})
#: Subnet names that are also everyday words need a nearby "subnet", "in", ...
COMMON_WORDS = frozenset({"servers", "server", "tech", "ops", "office", "web", "data", "dev", "prod", "test", "admin",
                          "sales", "finance", "hr", "it", "core", "edge", "public", "private", "guest", "lab", "staging",
                          "research", "management", "operations", "technical"})
SUBNET_ALIASES = {"research": "rnd", "r&d": "rnd", "management": "mgmt", "operations": "ops", "technical": "tech"}
_CONTEXT = frozenset({"subnet", "subnets", "region", "segment", "network", "department", "dept", "vlan", "zone",
                      "team", "lan", "net"})
_PREPS = frozenset({"in", "on", "through", "across", "against", "from", "to", "into", "within"})
_NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
_NUM = r"(?:\d+|" + "|".join(_NUMBERS) + r")"
_SUBNET_INDEX = re.compile(rf"(?<![\w-])sub(?:net)?s?\s*#?\s*({_NUM}(?:\s*(?:,|and|&|or|\+)\s*{_NUM})*)(?![\w-])")
_ALL_SUBNETS = re.compile(r"\b(?:all|every|each)\s+(?:the\s+)?subnets?\b")
_TOKEN = re.compile(r"[a-z0-9&]+(?:[-_.][a-z0-9]+)*")
_TOKEN_ANY_CASE = re.compile(_TOKEN.pattern, re.I)
_IP = re.compile(r"^\d+(?:\.\d+){1,3}$")
_EXCLUDE = re.compile(
    r"\b(?:but\s+not|but\s+leave|but\s+keep|except(?:\s+for)?|excluding|exclude|apart\s+from|other\s+than|aside\s+from"
    r"|save\s+for|not\s+including|leav(?:e|ing)\s+out|without\s+touching|spar(?:e|ing)|skip(?:ping)?|leave"
    r"|(?:don'?t|do\s+not|doesn'?t|does\s+not|never)\s+touch(?:ing)?)\b|,\s*not\b")
_CLAUSE_END = re.compile(r"[.;!?](?:\s|$)|\b(?:and\s+then|then|but\s+do|but\s+include|alone|out)\b")


@dataclass(frozen=True)
class TwinNames:
    """The names an operator can use for one twin: hosts, subnets (in index order) and roles."""

    hosts: tuple[str, ...]
    subnets: tuple[str, ...]
    roles: tuple[str, ...]

    @classmethod
    def from_network(cls, net: Network) -> TwinNames:
        return cls(hosts=tuple(net.names), subnets=tuple(net.subnets), roles=tuple(sorted(set(net.roles))))

    @classmethod
    def demo(cls) -> TwinNames:
        """Names of the shipped demo network (built once per process)."""
        return _demo_names()


@lru_cache(maxsize=1)
def _demo_names() -> TwinNames:
    from twin.build import build_network
    from twin.scenario import load_scenario

    return TwinNames.from_network(build_network(load_scenario("demo")))


@lru_cache(maxsize=16)
def _lookup(names: TwinNames) -> tuple[dict[str, str], dict[str, str], list[str]]:
    hosts = {h.lower(): h for h in names.hosts}
    return hosts, {s.lower(): s for s in names.subnets}, list(hosts)


def _host(word: str, names: TwinNames) -> str | None:
    """The host a lower-case token names: exactly, or with a small typo if it looks like a host name."""
    host_index, subnet_index, host_list = _lookup(names)
    if word in host_index:
        return host_index[word]
    if any(c.isdigit() for c in word) and ("-" in word or len(word) >= 6) and not _IP.match(word) \
            and word not in subnet_index:
        close = difflib.get_close_matches(word, host_list, n=1, cutoff=FUZZY_CUTOFF)
        if close:
            return host_index[close[0]]
    return None


def mask_hosts(text: str, names: TwinNames) -> str:
    """``text`` with host names as "host" and addresses as "address": for the embedding model,
    to which "srv-web-01" is five word pieces that drown the verb."""
    def swap(m: re.Match) -> str:
        word = m.group(0).lower()
        return "address" if _IP.match(word) else "host" if _host(word, names) else m.group(0)

    return _TOKEN_ANY_CASE.sub(swap, text)


def _empty() -> dict[str, list[str]]:
    return {kind: [] for kind in SLOT_KINDS}


def _add(slots: dict[str, list[str]], kind: str, value: str) -> None:
    if value not in slots[kind]:
        slots[kind].append(value)


def _near_context(words: list[str], i: int) -> bool:
    """A common-word subnet name counts only next to "subnet"/"network"/... or after "in"/"on"/..."""
    before = [w for w in words[max(0, i - 2):i] if w != "the"]
    after = words[i + 1:i + 2]
    return bool((before and (before[-1] in _PREPS or before[-1] in _CONTEXT)) or (after and after[0] in _CONTEXT))


def _role_of(word: str, roles: set[str]) -> str | None:
    for form in (word, word[:-1] if word.endswith("s") else None, word[:-2] if word.endswith("es") else None):
        if form and (role := ROLE_WORDS.get(form, form if form in roles else None)) in roles and role not in WEAK_ROLES:
            return role
    return None


def _slots(text: str, names: TwinNames) -> dict[str, list[str]]:
    """Hosts, subnets and roles named in ``text`` (lower case), in order of appearance."""
    subnet_index = _lookup(names)[1]
    roles = set(names.roles)
    slots = _empty()
    for m in _SUBNET_INDEX.finditer(text):
        for raw in re.findall(_NUM, m.group(1)):
            idx = _NUMBERS[raw] if raw in _NUMBERS else int(raw)
            if idx < len(names.subnets):
                _add(slots, "subnets", names.subnets[idx])
    if _ALL_SUBNETS.search(text):
        for name in names.subnets:
            _add(slots, "subnets", name)
    for pattern, role in ROLE_PHRASES.items():
        text, found = re.subn(rf"(?<![\w-])(?:{pattern})(?![\w-])", " ; ", text)  # consumed: "file servers" is no subnet
        if found and role in roles:
            _add(slots, "roles", role)
    words = [m.group(0) for m in _TOKEN.finditer(text)]
    hosts_at = {i: host for i, word in enumerate(words) if (host := _host(word, names))}
    for i, word in enumerate(words):
        if i in hosts_at:
            _add(slots, "hosts", hosts_at[i])
            continue
        name = SUBNET_ALIASES.get(word, word)
        if name in subnet_index and (word not in COMMON_WORDS and word not in roles or _near_context(words, i)):
            _add(slots, "subnets", subnet_index[name])
            continue
        role = _role_of(word, roles)
        describes_host = i + 1 in hosts_at or (i + 2 in hosts_at and words[i + 1] in ("server", "box", "host"))
        if role and not describes_host:
            _add(slots, "roles", role)
        elif word == "servers" and "servers" in subnet_index and not (i and _role_of(words[i - 1], roles)):
            _add(slots, "subnets", subnet_index["servers"])
    return slots


def extract_slots(text: str, names: TwinNames) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(targets, exclude): slots after "except", "but not", "don't touch", ... up to the end of
    that clause are exclusions; everything else is a target."""
    low = text.lower().replace("\u2019", "'")
    marker = _EXCLUDE.search(low)
    if not marker:
        return _slots(low, names), _empty()
    end = _CLAUSE_END.search(low, marker.end())
    stop = end.start() if end else len(low)
    targets = _slots(low[:marker.start()] + " . " + low[stop:], names)
    exclude = _slots(low[marker.end():stop], names)
    for kind in SLOT_KINDS:  # named in both places: the exclusion wins
        targets[kind] = [v for v in targets[kind] if v not in exclude[kind]]
    return targets, exclude
