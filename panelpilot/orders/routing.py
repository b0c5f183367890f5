"""Which provider route takes an order, and the text a provider group receives.

Panels report an order's provider in their own way: a domain (``smmprovider.com``), a URL
(``https://api.smmprovider.com/api/v2``), a display name (``Perfect Smm``) or the label of the
API key the admin added. A route lists the spellings it answers to; matching ignores case,
scheme, ``www.``, paths, ports and punctuation in names, accepts subdomains of a listed domain,
and matches a bare name to a domain's main label (``smmprovider`` ↔ ``smmprovider.com``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from panelpilot.templates.service import render_text

DEFAULT_COMMAND = "{external_id} {action}"
# The values ``command_text`` fills in; a command template may use only these.
COMMAND_VALUES = ("external_id", "external_ids", "order_id", "action", "provider", "link",
                  "quantity", "count")
MAX_PER_MESSAGE = 50

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class RouteInfo:
    """A route as the workflow needs it (plain values: it outlives the session)."""

    id: int
    name: str
    match: tuple[str, ...]
    channel_id: int | None
    chat_id: str | None
    channel_kind: str | None
    commands: dict[str, str] = field(default_factory=dict)
    bulk: bool = True

    @property
    def has_group(self) -> bool:
        return bool(self.channel_id and self.chat_id and self.channel_kind)

    def command(self, action: str) -> str:
        return (self.commands or {}).get(action) or DEFAULT_COMMAND


def host_of(text: str) -> str | None:
    """``https://www.Api.Provider.com:443/api/v2`` → ``api.provider.com``; None if no domain."""
    value = _SCHEME.sub("", text.strip().lower())
    value = value.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    value = value.removeprefix("www.").strip(".")
    if " " in value or "." not in value:
        return None
    labels = value.split(".")
    if not all(labels) or not re.fullmatch(r"[a-z]{2,24}", labels[-1]):
        return None
    return value


def compact(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def main_label(host: str) -> str:
    labels = host.split(".")
    # "co.uk"-style endings: the label before them is the name.
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in ("co", "com", "net", "org"):
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else labels[0]


def match_score(provider: str, term: str) -> int:
    """How well a reported provider matches one route term: 3 exact, 2 subdomain, 1 label."""
    if not provider.strip() or not term.strip():
        return 0
    p_host, t_host = host_of(provider), host_of(term)
    if p_host and t_host:
        if p_host == t_host:
            return 3
        return 2 if p_host.endswith("." + t_host) else 0
    if compact(provider) == compact(term) and compact(term):
        return 3
    if p_host and not t_host and compact(term) == main_label(p_host):
        return 1
    if t_host and not p_host and compact(provider) == main_label(t_host):
        return 1
    return 0


def find_route(provider: str | None, routes: Sequence[RouteInfo]) -> RouteInfo | None:
    """The best-matching route (its name counts as one of its terms), or None."""
    if not provider:
        return None
    best: tuple[int, RouteInfo] | None = None
    for route in routes:
        score = max((match_score(provider, t) for t in (route.name, *route.match)), default=0)
        if score and (best is None or score > best[0]):
            best = (score, route)
    return best[1] if best else None


def overlapping_terms(routes: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
    """Terms two routes both list (exactly, after normalizing): an ambiguous configuration."""
    owner: dict[str, str] = {}
    clashes: list[str] = []
    for name, terms in routes:
        for term in {name, *terms}:
            key = host_of(term) or compact(term)
            if not key:
                continue
            if key in owner and owner[key] != name:
                clashes.append(f"{term!r} is listed by both {owner[key]!r} and {name!r}")
            owner.setdefault(key, name)
    return clashes


@dataclass
class Item:
    """One order on its way to a provider group."""

    order_id: str
    external_id: str
    provider: str
    link: str | None = None
    quantity: int | None = None


def command_text(template: str, action: str, items: Sequence[Item]) -> str:
    """The provider command for one or more orders (ids joined with ", ")."""
    values = {
        "external_id": ", ".join(i.external_id for i in items),
        "external_ids": "\n".join(i.external_id for i in items),
        "order_id": ", ".join(i.order_id for i in items),
        "action": action,
        "provider": items[0].provider if items else "",
        "link": ", ".join(i.link for i in items if i.link),
        "quantity": ", ".join(str(i.quantity) for i in items if i.quantity is not None),
        "count": len(items),
    }
    return render_text(template, values).strip()


def batches(items: Sequence[Item], bulk: bool) -> list[list[Item]]:
    if not bulk:
        return [[i] for i in items]
    return [list(items[n:n + MAX_PER_MESSAGE]) for n in range(0, len(items), MAX_PER_MESSAGE)]
