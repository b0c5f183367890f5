"""Turn one chat message into a command: order ids plus an action, balance, help, admin words
(``link``, ``unlink``, ``order``) or a one-time code. Pure, never raises, regexes compiled once.

Rules (callers and the failed-commands report rely on them):

- Order ids are plain ASCII digit runs of 3..12 digits without a leading zero (panel ids are
  auto-increment numbers), standing alone as a word; ``#``/``№`` before them and punctuation
  around them are fine (``#2274209``, ``(2274209)``, ``2274209,``), and so is a command word
  glued to them (``2274209refill``). Not ids: a number after ``+`` (phone numbers like
  ``+233248073506``), numbers glued to other signs (``10.5``, ``$50``, ``2274209-2274210``),
  anything inside a link or an e-mail address, digits of other scripts, 1..2 or 13+ digits.
  Such a token makes the whole message unrecognized: we never guess which part was meant.
- Ids and the action may come in either order, on one line or many, separated by spaces,
  commas, semicolons, slashes or new lines; ids are deduplicated keeping their order. The same
  action may repeat (``2274209 refill`` / ``2274210 refill``); two different actions do not parse.
- Polite filler words (please, pls, plz, kindly, bro, sir, thanks, hi, …, and their Turkish,
  Russian, Indonesian, Spanish, Arabic and Hindi counterparts) and the word "order"/"id" before
  ids are ignored; any other unknown word makes the message unrecognized.
- Typos: a word of at least 4 letters one edit away (two for 7+ letters) from exactly one
  command is understood, with ``corrected_from`` and ``suggestion`` set for the logs; further off
  or ambiguous words only yield a ``suggestion`` and ``error_type="typo"``. Built-in
  misspelling aliases (``refil``, ``cancle`` …) are reported the same way.
- A bare number without an action is a one-time code only when it has exactly 6 digits
  (``kind="code"``); with an action, 6+ digit numbers are order ids.
- ``link``/``unlink`` are read only as the first word; their arguments are kept verbatim
  (``link <username>``, ``link <chat> <username>``, ``unlink [<chat>]``). ``order <id>…`` without
  an action is ``kind="order"``.
- More distinct ids than ``max_ids``: ``kind="too_many"`` with ``count``, no ids returned.
- Workspace aliases (alias -> speed/cancel/refill/status/balance/help/commands/link/unlink/order,
  any language, several words allowed) override the built-in words, fillers included.
- ``error_type`` is ``"typo"``, ``"unrecognized"``, ``"missing_ids"`` (an order action without
  ids) or ``"missing_action"`` (ids without an action).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz.distance import OSA

from panelpilot.orders.service_rules import fold

Kind = Literal[
    "order_action", "balance", "help", "link", "unlink", "order", "code", "too_many",
    "unrecognized",
]
ORDER_ACTIONS = ("speed", "cancel", "refill", "status")
TARGETS = frozenset({*ORDER_ACTIONS, "balance", "help", "link", "unlink", "order"})
MAX_TEXT = 20_000
MIN_FUZZY_LEN = 4


@dataclass(slots=True)
class ParseResult:
    """What a message asks for; ``action`` is the canonical command word when one was found."""

    kind: Kind
    action: str | None = None
    order_ids: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    corrected_from: str | None = None
    suggestion: str | None = None
    error_type: str | None = None
    count: int = 0  # how many distinct ids a "too_many" message had


# --- vocabulary (folded, lower case) ------------------------------------------------------------

_BUILTIN: dict[str, tuple[str, ...]] = {
    "refill": (
        "refill", "refil", "reffil", "reffill", "rf", "re-fill", "re fill", "refilling",
        "refill request", "telafi", "telafi et", "garanti", "garansi", "isi ulang", "рефилл",
        "рефил", "восстановить", "восстановление", "reponer", "reposicion", "repor",
        "reposicao", "تعويض", "रिफिल",
    ),
    "speed": (
        "speed", "speedup", "speed up", "speed-up", "fast", "faster", "hizlandir",
        "hizlandirma", "hizlandirin", "ускорить", "ускорь", "ускорьте", "ускорение", "percepat",
        "percepat pesanan", "acelerar", "تسريع", "तेज",
    ),
    "cancel": (
        "cancel", "cancle", "cancell", "canceled", "cancelled", "iptal", "iptal et", "отмена",
        "отменить", "отмени", "отмените", "batal", "batalkan", "cancelar", "الغاء", "रद्द",
    ),
    "status": (
        "status", "check", "check status", "state", "durum", "статус", "проверить", "cek",
        "cek status", "estado", "حالة", "स्थिति",
    ),
    "balance": (
        "balance", "bal", "check balance", "balance check", "funds", "bakiye", "баланс", "saldo",
        "cek saldo", "رصيد", "बैलेंस",
    ),
    "help": (
        "help", "commands", "command", "cmd", "cmds", "menu", "yardim", "komutlar", "помощь",
        "команды", "bantuan", "perintah", "ayuda", "ajuda", "comandos", "مساعدة", "मदद",
    ),
    "link": ("link", "bind"),
    "unlink": ("unlink", "unbind"),
}
_MISSPELLINGS = frozenset({"refil", "reffil", "reffill", "cancle", "cancell"})
_FUZZY_TARGETS = (
    ("refill", "refill"), ("speed", "speed"), ("speedup", "speed"), ("cancel", "cancel"),
    ("status", "status"), ("balance", "balance"), ("help", "help"), ("commands", "help"),
)
# Politeness, greetings and glue words carry no command; they are dropped before matching.
_FILLERS = frozenset({
    "please", "pls", "plz", "plzz", "plss", "plx", "pleas", "plese", "pleasee", "pleaseee", "plis",
    "pliz", "kindly", "bro", "brother", "bruh", "sir", "sirr", "madam", "dear", "boss", "bhai",
    "bhaiya", "ji", "thanks", "thank", "you", "thx", "thnx", "ty", "tq", "tks", "hi", "hello",
    "hey", "hii", "helo", "salam", "salaam", "merhaba", "selam", "lutfen", "abi", "hocam",
    "tesekkurler", "пожалуйста", "пж", "плз", "привет", "здравствуйте", "спасибо", "tolong",
    "mohon", "kak", "gan", "bang", "halo", "terima", "kasih", "makasih", "por", "favor", "hola",
    "gracias", "obrigado", "obrigada", "من", "فضلك", "لو", "سمحت", "شكرا", "مرحبا", "कृपया",
    "धन्यवाद", "भाई", "and", "ve", "и", "dan", "y", "e", "the", "my", "for", "this", "these", "of",
    "on", "to", "again", "now", "asap", "urgent"
})
_ORDER_WORDS = frozenset({
    "order", "orders", "id", "ids", "siparis", "заказ", "заказы", "заказа", "pesanan", "pedido",
    "pedidos", "طلب", "ऑर्डर"
})
_CODE_WORDS = frozenset({
    "code", "otp", "kod", "код", "kode", "codigo", "رمز", "कोड"
})

# --- patterns -----------------------------------------------------------------------------------

_COMPACT = re.compile(r"[\s\-_.'’]+")
_PIECE_SPLIT = re.compile(r"[,;:=|&/،、，；]+")
_EDGE = "\"'`«»“”‘’()[]{}<>.,!?¡¿:;*_~-–—…"
_URLISH = re.compile(
    r"(?i)(?:[a-z][a-z0-9+.-]*://|www\.|\S+@\S+\.\S+|"
    r"^[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|me|ly|gg|tv|app|co|info|biz|xyz|ru|tr|id|in|uk)"
    r"(?:[/:?#]|$))"
)
_ID = re.compile(r"[#№]?([1-9][0-9]{2,11})")
_DIGITS = re.compile(r"[#№]?([0-9]+)")
_WORD_THEN_DIGITS = re.compile(r"([^\W\d_]+)([0-9]+)")
_DIGITS_THEN_WORD = re.compile(r"([0-9]+)([^\W\d_]+)")
_HAS_DIGIT = re.compile(r"\d")
_HAS_ALNUM = re.compile(r"[^\W_]")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def _compact(word: str) -> str:
    return _COMPACT.sub("", fold(word)[1])


def builtin_aliases() -> dict[str, tuple[str, ...]]:
    """The words every workspace understands, by command (what the console lists)."""
    return dict(_BUILTIN)


_BUILTIN_INDEX: dict[str, str] = {
    _compact(alias): target for target, words in _BUILTIN.items() for alias in words
}


def _workspace_index(aliases: dict[str, str] | None) -> dict[str, str]:
    if not aliases:
        return {}
    index: dict[str, str] = {}
    for alias, target in aliases.items():
        if not isinstance(alias, str) or not isinstance(target, str):
            continue
        t = fold(target)[1].strip()
        t = "help" if t == "commands" else t
        key = _compact(alias)
        if key and t in TARGETS:
            index[key] = t
    return index


# --- tokens -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Token:
    kind: Literal["id", "number", "word", "bad"]
    value: str  # digits for numbers, compact folded form for words
    text: str  # as written


def _classify(piece: str, out: list[_Token]) -> None:
    piece = piece.strip(_EDGE)
    if not piece:
        return
    m = _DIGITS.fullmatch(piece)
    if m:
        digits = m.group(1)
        kind: Literal["id", "number"] = "id" if _ID.fullmatch(piece) else "number"
        out.append(_Token(kind, digits, digits))
        return
    if _HAS_DIGIT.search(piece):
        for pattern in (_WORD_THEN_DIGITS, _DIGITS_THEN_WORD):
            glued = pattern.fullmatch(piece)
            if glued:
                for part in glued.groups():
                    _classify(part, out)
                return
        out.append(_Token("bad", piece, piece))
        return
    if not _HAS_ALNUM.search(piece):
        return  # emoji and punctuation ("🙏", "-", "...") carry no meaning here
    out.append(_Token("word", _compact(piece), piece))


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    for chunk in text.split():
        if _URLISH.search(chunk) or chunk.startswith("+"):
            out.append(_Token("bad", chunk, chunk))
            continue
        if chunk.startswith("/") and "@" in chunk:
            chunk = chunk.split("@", 1)[0]  # Telegram "/refill@MyPanelBot"
        for piece in _PIECE_SPLIT.split(chunk):
            _classify(piece, out)
    return out


# --- resolving words ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Resolved:
    action: str | None
    corrected_from: str | None = None
    suggestion: str | None = None


def _max_edits(length: int) -> int:
    return 1 if length < 7 else 2


def _fuzzy(word: str, original: str, ws: dict[str, str]) -> _Resolved:
    if not word.isalpha() or len(word) < MIN_FUZZY_LEN or len(word) > 24:
        return _Resolved(None)
    targets = list(_FUZZY_TARGETS) + [(k, v) for k, v in ws.items()
                                     if len(k) >= 5 and v not in ("link", "unlink", "order")]
    best: dict[str, int] = {}
    for target, action in targets:
        d = OSA.distance(word, target)
        if d < best.get(action, 1 << 30):
            best[action] = d
    if not best:
        return _Resolved(None)
    ranked = sorted(best.items(), key=lambda kv: kv[1])
    action, dist = ranked[0]
    limit = _max_edits(len(word))
    unique = len(ranked) == 1 or ranked[1][1] > dist
    if dist <= limit and unique:
        return _Resolved(action, corrected_from=original, suggestion=action)
    if dist <= max(2, len(word) // 3):
        return _Resolved(None, suggestion=action)
    return _Resolved(None)


def _resolve(words: list[_Token], ws: dict[str, str]) -> _Resolved:
    key = "".join(w.value for w in words)
    original = " ".join(w.text for w in words)
    target = ws.get(key) or _BUILTIN_INDEX.get(key)
    if target:
        if key in _MISSPELLINGS and key not in ws:
            return _Resolved(target, corrected_from=original, suggestion=target)
        return _Resolved(target)
    if len(words) > 1:
        each = {ws.get(w.value) or _BUILTIN_INDEX.get(w.value) for w in words}
        if None not in each:
            # "refill refill" is one action said twice; "refill cancel" is two: no command.
            return _Resolved(each.pop() if len(each) == 1 else None)
    return _fuzzy(key, original, ws)


def _exact(word: str, ws: dict[str, str]) -> str | None:
    key = _compact(word.lstrip("/").split("@", 1)[0].strip(_EDGE))
    return ws.get(key) or _BUILTIN_INDEX.get(key)


# --- admin words --------------------------------------------------------------------------------


def _admin(kind: Literal["link", "unlink"], rest: list[str]) -> ParseResult:
    args = [a.strip(",;") for a in rest]
    args = [a for a in args if a]
    if any(_URLISH.search(a) and not a.endswith(("@c.us", "@g.us", "@lid")) for a in args):
        return ParseResult("unrecognized", action=kind, error_type="unrecognized")
    if kind == "link" and 1 <= len(args) <= 2:
        return ParseResult("link", action="link", args=args)
    if kind == "unlink" and len(args) <= 1:
        return ParseResult("unlink", action="unlink", args=args)
    return ParseResult("unrecognized", action=kind, error_type="unrecognized")


# --- public API ---------------------------------------------------------------------------------


def parse_command(text: str, *, aliases: dict[str, str] | None = None,
                  max_ids: int = 20) -> ParseResult:
    """Parse one chat message (never raises; unknown text gives kind "unrecognized")."""
    try:
        return _parse(text, aliases, max_ids)
    except Exception:  # noqa: BLE001 - a message must never break the conversation worker
        return ParseResult("unrecognized", error_type="unrecognized")


def _unrecognized(error_type: str = "unrecognized", *, action: str | None = None,
                  suggestion: str | None = None, corrected_from: str | None = None) -> ParseResult:
    return ParseResult("unrecognized", action=action, suggestion=suggestion,
                       corrected_from=corrected_from, error_type=error_type)


def _parse(text: str, aliases: dict[str, str] | None, max_ids: int) -> ParseResult:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        return _unrecognized()
    ws = _workspace_index(aliases)
    # A space, not nothing: joining digits across an invisible mark would invent an id.
    text = _INVISIBLE.sub(" ", text)
    raw = text.split()
    head = _exact(raw[0], ws)
    if head == "link":
        return _admin("link", raw[1:])
    if head == "unlink":
        return _admin("unlink", raw[1:])

    tokens = _tokens(text)
    if any(t.kind == "bad" for t in tokens):
        return _unrecognized()
    numbers = [t for t in tokens if t.kind in ("id", "number")]
    order_first = False
    code_word = False
    runs: list[list[_Token]] = []
    current: list[_Token] = []
    seen_meaningful = False
    for t in tokens:
        if t.kind != "word":
            if current:
                runs.append(current)
                current = []
            seen_meaningful = True
            continue
        if ws.get(t.value) == "order" or (t.value in _ORDER_WORDS and t.value not in ws):
            order_first = order_first or not seen_meaningful
        elif t.value in ws:
            current.append(t)
        elif t.value in _CODE_WORDS:
            code_word = True
        elif t.value in _FILLERS:
            pass
        else:
            current.append(t)
        seen_meaningful = seen_meaningful or t.value not in _FILLERS
    if current:
        runs.append(current)

    if not runs:
        if len(numbers) == 1 and len(numbers[0].value) == 6 and not order_first:
            return ParseResult("code", args=[numbers[0].value])
        if numbers and not code_word and all(t.kind == "id" for t in numbers):
            ids = _dedupe(numbers)
            if order_first:
                if len(ids) > max_ids:
                    return ParseResult("too_many", action="order", count=len(ids))
                return ParseResult("order", action="order", order_ids=ids, args=list(ids))
            return _unrecognized("missing_action")
        return _unrecognized()

    resolved = [_resolve(run, ws) for run in runs]
    failed = [r for r in resolved if r.action is None]
    if failed:
        suggestion = next((r.suggestion for r in failed if r.suggestion), None)
        return _unrecognized("typo" if suggestion else "unrecognized", suggestion=suggestion)
    actions = {r.action for r in resolved}
    if len(actions) > 1:
        return _unrecognized()
    action = resolved[0].action
    corrected = next((r for r in resolved if r.corrected_from), None)
    fixed_from = corrected.corrected_from if corrected else None
    fixed_to = corrected.suggestion if corrected else None
    if action == "balance" or action == "help":
        if numbers:
            return _unrecognized(action=action)
        kind: Kind = "balance" if action == "balance" else "help"
        return ParseResult(kind, action=action, corrected_from=fixed_from, suggestion=fixed_to)
    if action not in ORDER_ACTIONS:
        return _unrecognized(action=action)  # "2274209 link": admin words only lead
    if any(t.kind == "number" for t in numbers):
        return _unrecognized(action=action)  # "12", "0248073506": not order ids
    ids = _dedupe(numbers)
    if not ids:
        return _unrecognized("missing_ids", action=action, corrected_from=fixed_from,
                             suggestion=fixed_to)
    if len(ids) > max_ids:
        return ParseResult("too_many", action=action, count=len(ids), corrected_from=fixed_from,
                           suggestion=fixed_to)
    return ParseResult("order_action", action=action, order_ids=ids, corrected_from=fixed_from,
                       suggestion=fixed_to)


def _dedupe(numbers: list[_Token]) -> list[str]:
    return list(dict.fromkeys(t.value for t in numbers))
