"""Read a service's start-time window and refill policy from its name.

SMM panels write these into service names in many conventions and languages
(``[Start: 0-1 Hour]``, ``⏱ 0-12 Hrs``, ``[R30]``, ``♻️ Lifetime``, ``Başlama: 0-1 Saat``,
``Гарантия 30 дней``, ``Garansi 30 Hari`` …). ``parse_service_name`` turns a name into a
``StartWindow`` and a ``RefillPolicy`` plus evidence strings for admins. Pure functions, no I/O.

Decisions (the eligibility checks rely on them):

- Unknown stays unknown. Nothing is concluded from a bare number or a bare word: ``30 Days``
  alone, ``[Refill]`` alone, ``[LIFETIME]`` alone or ``6H`` alone give ``unknown`` / no start.
- ``Instant`` means a window of exactly 0..0 (``StartWindow.instant`` is then true). Any slack
  before a speed-up may be asked belongs to the eligibility checks (a workspace setting), not to
  the parser.
- A single figure is an upper bound: ``Start 30 Min`` and ``Up to 48 Hours`` give 0..30 min and
  0..48 h. ``Instant-6HRS`` / ``Instant to 12 Hours`` give 0..6 h / 0..12 h.
- A start time needs a start word (``Start``, ``Başlama``, ``Старт``, ``Mulai``, ``⏱``, ``🚀`` …)
  before or after it, except two unmistakable shapes: a range from zero in minutes or hours
  (``[0-1 Hour]``, not after a slash, "per" or a retention/watch-time word) and the word
  ``Instant`` itself (not ``Not Instant``, not ``Instant Refill``). Several start readings: the
  widest window wins, because a later "speed" is the safe side. Speeds (``10K/Day``,
  ``1000/Hour``, ``Day 50K``), quantities, retention and watch times never count.
- ``Non Drop`` says nothing about refill on its own (providers sell non-drop services both with
  and without a refill promise), so it leaves the policy unknown; ``Non Drop + 30D refill`` is
  30 days.
- Refill windows are whole days; months count 30 days, weeks 7, years 365. Hours next to a refill
  word (``Refill 24-48 Hours``) are processing times, not windows, and are ignored, as are ranges
  (``Refill Time 1-2 Days``).
- ``R<n>`` codes (``R30``, ``AR30``) count only for n >= 7, because ``R1``..``R5`` are server names.
- Contradictions (``No Refill`` with ``R30``, ``30 Days`` with ``60 Days``, lifetime with a
  number under a year) give ``unknown``: the admin settles it with a rule. ``Lifetime Refill
  (365 Days)`` is 365 days: panels define lifetime as a year, and the number is the safe side.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Literal

RefillKind = Literal["days", "lifetime", "none", "unknown"]

MAX_START = timedelta(days=90)
MAX_REFILL_DAYS = 3650


@dataclass(frozen=True)
class StartWindow:
    """When an order of the service should start moving, counted from its creation."""

    min: timedelta
    max: timedelta

    @property
    def instant(self) -> bool:
        return self.max == timedelta(0)


@dataclass(frozen=True)
class RefillPolicy:
    """Whether and how long dropped quantities are refilled."""

    kind: RefillKind = "unknown"
    days: int | None = None

    @classmethod
    def for_days(cls, days: int) -> RefillPolicy:
        return cls("days", days)

    @classmethod
    def lifetime(cls) -> RefillPolicy:
        return cls("lifetime")

    @classmethod
    def none(cls) -> RefillPolicy:
        return cls("none")

    @classmethod
    def unknown(cls) -> RefillPolicy:
        return cls("unknown")

    @property
    def is_known(self) -> bool:
        return self.kind != "unknown"


@dataclass(frozen=True)
class ParsedRules:
    """What a service name says: start window (None = not stated), refill policy, and why."""

    start: StartWindow | None
    refill: RefillPolicy
    evidence: tuple[str, ...] = ()


def _words(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class Keywords:
    """A workspace's own words, applied on top of the built-in ones.

    ``refill``: words meaning refill/guarantee, read next to a number of days (``Reposição``).
    ``no_refill``: phrases that on their own mean no refill (``Sin reposición``).
    ``lifetime``: phrases that on their own mean lifetime refill (``Garantía vitalicia``).
    ``start``: words introducing a start time (``Başlangıç zamanı``).
    ``instant``: phrases that on their own mean an instant start (``Ya mismo``).
    """

    refill: tuple[str, ...] = ()
    no_refill: tuple[str, ...] = ()
    lifetime: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    instant: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Lists from YAML or JSON must still hash: the compiled patterns are cached per Keywords.
        for name in ("refill", "no_refill", "lifetime", "start", "instant"):
            object.__setattr__(self, name, _words(getattr(self, name)))


# --- text folding -------------------------------------------------------------------------------

# One character in, one character out, so match offsets in the folded text quote the original.
_FOLD = str.maketrans({
    "ı": "i", "ş": "s", "ç": "c", "ğ": "g", "ü": "u", "ö": "o", "â": "a", "î": "i", "û": "u",
    "á": "a", "à": "a", "ã": "a", "ä": "a", "é": "e", "è": "e", "ê": "e", "í": "i", "ó": "o",
    "ô": "o", "õ": "o", "ú": "u", "ñ": "n", "ё": "е", "أ": "ا", "إ": "ا", "آ": "ا",
    "\u2019": "'", "\u00a0": " ",
})


_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def fold(text: str) -> tuple[str, str]:
    """Return (NFKC text, lower-cased diacritic-folded text of the same length).

    Invisible marks that WhatsApp and copy-paste leave behind (LRM, zero-width space) go first.
    """
    nfkc = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    low = nfkc.lower()
    if len(low) != len(nfkc):  # "İ" lowers to two code points
        low = "".join(c.lower()[0] for c in nfkc)
    return nfkc, low.translate(_FOLD)


# --- building blocks (all patterns run on folded text) ------------------------------------------

_L = r"(?<![^\W\d_])"  # no letter just before
_R = r"(?![^\W\d_])"  # no letter just after
_NUM = r"(?<![\w/])(?<!\d[.,])\d{1,5}(?:[.,]\d{1,2})?(?!\d)"

_UNIT_CLASSES: dict[str, str] = {
    "second": r"sec(?:ond)?s?|saniye|sn|сек(?:унд[аы]?)?|detik|segundos?|ثانية|ثوان|सेकंड",
    "minute": r"min(?:ute)?s?|mnt|menit|minit|dakika|dk|мин(?:ут[аы]?)?|minutos?"
              r"|دقيقة|دقيقه|دقائق|मिनट",
    "hour": r"h(?:ou)?rs?|hours?|h|saat|jam|час(?:а|ов)?|ч|horas?|ساعة|ساعه|ساعات"
            r"|घंटे|घंटा|घंटों",
    "day": r"d(?:ays?)?|gun(?:luk)?|день|дня|дней|дн|д|сут(?:ки|ок)|hari|dias?|يوم|يوما|ايام"
           r"|दिन",
    "week": r"w(?:ee)?ks?|weeks?|hafta|недел[яиьею]|minggu|semanas?|اسبوع|اسابيع|सप्ताह|हफ्ते",
    "month": r"months?|mons?|mos?|ay|мес(?:яц(?:а|ев)?)?|bulan|mes(?:es)?|شهر|اشهر|شهور"
             r"|महीने|महीना",
    "year": r"years?|yrs?|yil|год(?:а)?|лет|tahun|anos?|سنة|سنه|سنوات|साल|वर्ष",
}
_UNIT_RE = {k: re.compile(rf"(?:{v})") for k, v in _UNIT_CLASSES.items()}
_UNIT_SECONDS = {
    "second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400,
    "month": 30 * 86400, "year": 365 * 86400,
}
_DAYISH = frozenset({"day", "week", "month", "year"})
_UNIT = "(?:" + "|".join(_UNIT_CLASSES.values()) + ")" + _R
# A lone "m" is minutes only right after a start word; elsewhere it is "million".
_UNIT_M = "(?:" + "|".join(_UNIT_CLASSES.values()) + "|m)" + _R

_RANGE_SEP = r"(?:[-–—~]|(?:to|до|ile|hingga|sampai|a)(?=\s))"

_START_KW = (
    r"start(?:s|ing|ed)?(?:\s*[-_]?\s*time)?|starting\s*time|begins?"
    r"|baslama(?:\s*(?:suresi|zamani))?|baslangic(?:\s*suresi)?|baslar"
    r"|старт(?:а|ует)?|запуск(?:а|ается)?|начало|начнется"
    r"|mulai|waktu\s*mulai|inicio|comienzo|comienza|inicia|empieza|comeca"
    r"|بدء|البدء|بداية|البداية|يبدا|शुरू|शुरुआत|स्टार्ट"
)
_START_EMOJI = "[\u23f1\u23f0\u23f2\u231b\u23f3\U0001f550-\U0001f55b\U0001f680]\ufe0f?"
_START_GAP = (
    r"(?:[\s:=\-–—~>•·*|(\[{\ufe0f\u200d]|(?:within|in|after|approx(?:imately)?|about|around"
    r"|up\s*to|upto|max(?:imum)?|until|до|в\s+течение|через|около|dalam|sekitar|hingga|hasta"
    r"|en|em|ate|خلال|حوالي)" + _R + ")"
)
_START_GAP_AFTER = r"(?:[\s\-–:|!.,~(\ufe0f]|(?:icinde|sonra|within)" + _R + ")"

_INSTANT = (
    r"super\s*instant|instant(?:ly|aneous|e)?|instan|immediate(?:ly)?|aninda|anlik|hemen"
    r"|мгновенн\w*|моментальн\w*|сразу|instantane[oa]|inmediat[oa]|imediat[oa]"
    r"|فوري|فورا|तुरंत|इंस्टेंट"
)
_INSTANT_BARE = (
    r"super\s*instant|instant(?:ly)?|instan|aninda|anlik|мгновенн\w*|моментальн\w*"
    r"|instantane[oa]|inmediat[oa]|imediat[oa]|فوري|तुरंत|इंस्टेंट"
)

_REFILL_CORE = (
    r"(?:auto\s*-?\s*)?(?:re-?f+i+l+(?:ed|s|ing|able)?|рефил+\w*|восполнени\w*"
    r"|telafi(?:li)?|garanti(?:li|si)?|garansi|bergaransi|isi\s*ulang"
    r"|guarant\w*|gurant\w*|guarnt\w*|garantia|garantie|garantee|garanteed|warrant(?:y|ies)"
    r"|гарант\w*|reposicion|reposicao|ضمان|الضمان|تعويض|التعويض|ريفيل|रिफिल|रीफिल|गारंटी)"
)
_RECYCLE = "[\u267b\U0001f504]\ufe0f?"
_LIFE = (
    r"life\s*-?\s*time|lifelong|forever|permanent|unlimited|lt|omur\s*boyu|omurluk|suresiz"
    r"|sinirsiz|навсегда|пожизненн\w*|вечн\w*|бессрочн\w*|seumur\s*hidup|selamanya|permanen"
    r"|vitalici[oa]|de\s*por\s*vida|para\s*sempre|مدى\s*الحياة|مدى\s*الحياه|دائم|आजीवन|लाइफटाइम"
)
_INFINITY = "[\u221e\u267e]\ufe0f?"
_NEG = (
    r"no|non|not|none|without|w/o|zero|sin|sem|tanpa|tidak\s*ada|tidak|tak|bukan|bez|ohne|sans"
    r"|без|нет|не|بدون|لا\s*يوجد|لا|बिना|नो|कोई"
)
_CROSS = "[\u274c\U0001f6ab\u26d4\u2716\u2717\u00d7]\ufe0f?"
_NON_DROP = (
    r"non\s*-?\s*drop|no\s*-?\s*drop|nondrop|zero\s*drop|drop\s*free|without\s*drop|anti\s*drop"
    r"|dusussuz|dusmeyen|без\s*списани\w*|без\s*отписок|tidak\s*drop|sin\s*caida|sem\s*queda"
)
_RETENTION = (
    r"(?:watch|view(?:ing)?|retention|avg|average)\s*-?\s*time"
    r"|retention|retain\w*|watch\w*|izlenme|izleme|stay\w*|remain\w*|live|stream\w*|concurrent"
    r"|drip\w*|subscription\w*|abonelik|durasi|tonton|bertahan|удержани\w*|досмотр\w*"
    r"|трансляци\w*|permanencia|retencao|retencion|مشاهدة|الاحتفاظ|वॉच"
)

_AFTER_BAD = re.compile(
    r"[\s\])}|:\-–.,!*]*(?:/|per" + _R + r"|(?:" + _RETENTION + r")" + _R + ")"
)
_BEFORE_BAD = re.compile(r"(?:(?:" + _RETENTION + r"|avg|average|per)" + _R + r"|/)[\s:=\-–(\[]*$")
_NEGATED = re.compile(r"(?<![^\W\d_])(?:no|not|non|без|не|degil|bukan|tidak|sin|sem)[\s\-]*$")
_PER_BEFORE = re.compile(r"(?<![^\W\d_])per\s*$")
_SEPARATORS = re.compile(r"[\s\])}|:\-–.,!*]*")
_RANGE_BEFORE = re.compile(r"\d\s*[-–~]\s*$")
_RANGE_AFTER = re.compile(r"\s*[-–~]\s*\d")


def _alts(builtin: str, extra: tuple[str, ...]) -> str:
    words = []
    for word in extra:
        folded = fold(word)[1].strip()
        if folded:
            words.append(re.escape(folded).replace(r"\ ", r"\s*"))
    # Longest first so that a workspace phrase wins over a built-in word it starts with.
    words.sort(key=len, reverse=True)
    return "|".join([*words, builtin]) if words else builtin


def _start_value(p: str, unit: str, instant: str) -> str:
    """A start value with group names prefixed by p: instant range, range, single, instant."""
    return (
        rf"(?P<{p}ir>{instant}){_R}\s*{_RANGE_SEP}\s*(?P<{p}irn>{_NUM})\s*(?P<{p}iru>{unit})"
        rf"|(?P<{p}ra>{_NUM})\s*(?:(?P<{p}rau>{unit})\s*)?{_RANGE_SEP}\s*"
        rf"(?P<{p}rb>{_NUM})\s*(?P<{p}rbu>{unit})"
        rf"|(?P<{p}sn>{_NUM})\s*(?P<{p}su>{unit})"
        rf"|(?P<{p}in>{instant}){_R}"
    )


@dataclass(frozen=True)
class _Matchers:
    start_before: re.Pattern[str]
    start_after: re.Pattern[str]
    bare_range: re.Pattern[str]
    bare_instant: re.Pattern[str]
    instant_after_bad: re.Pattern[str]
    start_before_text: re.Pattern[str]
    followed_by_start: re.Pattern[str]
    after_refill_word: re.Pattern[str]
    refill_a: re.Pattern[str]
    refill_b: re.Pattern[str]
    refill_follow_number: re.Pattern[str]
    r_code: re.Pattern[str]
    r_life: re.Pattern[str]
    recycle_number: re.Pattern[str]
    life_1: re.Pattern[str]
    life_2: re.Pattern[str]
    life_extra: re.Pattern[str] | None
    life_bare: re.Pattern[str]
    none_patterns: tuple[re.Pattern[str], ...]
    mention: re.Pattern[str]
    non_drop: re.Pattern[str]


@lru_cache(maxsize=128)
def _matchers(extra: Keywords | None) -> _Matchers:
    kw = extra or Keywords()
    start_kw = _alts(_START_KW, kw.start)
    instant = _alts(_INSTANT, kw.instant)
    instant_bare = _alts(_INSTANT_BARE, kw.instant)
    refill_core = _alts(_REFILL_CORE, kw.refill)

    def value(p: str, unit: str) -> str:
        return _start_value(p, unit, instant)

    start_word = rf"(?:{_L}(?:{start_kw}){_R}|{_START_EMOJI})"
    refill_word = rf"(?:{_L}(?:{refill_core}){_R}|{_RECYCLE})"
    life_word = rf"(?:{_L}(?:{_LIFE}){_R}|{_INFINITY})"
    dur = rf"(?P<n>{_NUM})\s*-?\s*(?P<u>{_UNIT})"  # "30 Days", "30D", "30-Day"
    gap_a = (
        r"(?:[\s:=\-–—~|(\[{•*+✅✔☑\ufe0f\u200d]|(?:for|of|up\s*to|upto|period|periode|suresi"
        r"|срок(?:ом)?|на|от\s+(?:списаний|отписок)|selama|de|por|durante|لمدة|مدة|max(?:imum)?"
        r"|until|button|btn)" + _R + ")"
    )
    gap_b = r"(?:[\s:=\-–—~|)\]}•*+✅✔☑\ufe0f\u200d]|(?:of|full|free)" + _R + ")"
    gap_l = r"(?:[\s:=\-–—~|()\[\]{}•*+✅✔☑\ufe0f\u200d]|(?:" + _NON_DROP + r"|auto)" + _R + ")"
    no_word = r"(?:no|none|nope|yok|нет|tidak(?:\s*ada)?|n/a|not\s*available|unavailable)"
    not_drop = r"(?!\s*-?\s*(?:drop|dus|списан|turun|caida|queda))"

    none_patterns = [
        re.compile(rf"{_L}(?:{_NEG})[\s\-_./]*(?:(?:{refill_core}){_R}|{_RECYCLE})"),
        re.compile(rf"{_L}(?:telafi|garanti)siz{_R}"),
        re.compile(rf"{_L}(?:{refill_core}){_R}\s*[:=\-]?\s*{no_word}{_R}{not_drop}"),
        re.compile(rf"(?:{refill_word})\s*[:=\-]?\s*{_CROSS}"),
        re.compile(rf"{_CROSS}\s*(?:{refill_word})"),
    ]
    if kw.no_refill:
        none_patterns.append(re.compile(rf"{_L}(?:{_alts('(?!)', kw.no_refill)}){_R}"))

    return _Matchers(
        start_before=re.compile(rf"{start_word}(?:{_START_GAP}){{0,8}}(?:{value('b', _UNIT_M)})"),
        start_after=re.compile(
            rf"(?:{value('a', _UNIT)})(?:{_START_GAP_AFTER}){{0,4}}{_L}(?P<akw>{start_kw}){_R}"
        ),
        bare_range=re.compile(
            rf"(?P<ir>{instant_bare}){_R}\s*{_RANGE_SEP}\s*(?P<irn>{_NUM})\s*(?P<iru>{_UNIT})"
            rf"|(?P<ra>{_NUM})\s*(?:(?P<rau>{_UNIT})\s*)?{_RANGE_SEP}\s*"
            rf"(?P<rb>{_NUM})\s*(?P<rbu>{_UNIT})"
        ),
        bare_instant=re.compile(rf"{_L}(?:{instant_bare}){_R}"),
        instant_after_bad=re.compile(
            rf"\s*[-:]?\s*(?:{refill_core}|refund\w*|cancel\w*|iptal|отмен\w*|batal){_R}"
        ),
        # Tight on purpose: "0-24 Hours Start | 60 Days Refill" keeps its 60 days.
        start_before_text=re.compile(
            rf"(?:{start_word})[\s:=\-–~>\ufe0f]*(?:(?:up\s*to|upto|within|in|until|до|max)\s*)?$"
        ),
        followed_by_start=re.compile(rf"[\s\])}}|:\-–.,!*]*(?P<kw>{start_word})"),
        after_refill_word=re.compile(rf"(?:{refill_word})(?:{gap_a})*$"),
        refill_a=re.compile(rf"(?:{refill_word})(?:{gap_a}){{0,6}}{dur}"),
        refill_b=re.compile(rf"{dur}(?:{gap_b}){{0,6}}(?:{refill_word})"),
        refill_follow_number=re.compile(rf"\s*(?:{refill_word})\s*[:=]?\s*\d"),
        r_code=re.compile(r"(?<![^\W_])a?r-?(?P<n>\d{1,4})(?:\s?d(?:ays?)?)?(?![^\W_])"),
        r_life=re.compile(rf"(?<![^\W_])a?r-?\s?{_INFINITY}"),
        recycle_number=re.compile(
            rf"{_RECYCLE}\s*(?P<n>\d{{1,4}})(?![\d.,])(?=\s*(?:$|[\])|,;/\-–]))"
        ),
        life_1=re.compile(rf"{life_word}(?:{gap_l}){{0,6}}{refill_word}"),
        life_2=re.compile(rf"{refill_word}(?:{gap_l}){{0,6}}{life_word}"),
        life_extra=(
            re.compile(rf"{_L}(?:{_alts('(?!)', kw.lifetime)}){_R}") if kw.lifetime else None
        ),
        life_bare=re.compile(rf"{_L}(?:life\s*-?\s*time|omur\s*boyu|пожизненн\w*|навсегда"
                             rf"|seumur\s*hidup){_R}"),
        none_patterns=tuple(none_patterns),
        mention=re.compile(refill_word),
        non_drop=re.compile(rf"{_L}(?:{_NON_DROP}){_R}"),
    )


# --- helpers ------------------------------------------------------------------------------------


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _unit_class(unit: str) -> str:
    if unit == "m":
        return "minute"
    for name, pattern in _UNIT_RE.items():
        if pattern.fullmatch(unit):
            return name
    return "unknown"  # pragma: no cover - every alternative belongs to a class


def _duration(num: str, unit: str) -> tuple[timedelta, str] | None:
    cls = _unit_class(unit)
    if cls not in _UNIT_SECONDS:
        return None
    try:
        return timedelta(seconds=_number(num) * _UNIT_SECONDS[cls]), cls
    except (ValueError, OverflowError):
        return None


def _human(td: timedelta) -> str:
    seconds = int(td.total_seconds())
    if seconds == 0:
        return "0"
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if size == 86400 and seconds < 3 * 86400:
            continue  # "48 hours" reads better than "2 days" for start windows
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {name}" + ("" if n == 1 else "s")
    return f"{seconds} seconds"  # pragma: no cover


@dataclass(frozen=True)
class _StartCandidate:
    lo: timedelta
    hi: timedelta
    text: str
    instant: bool
    bare: bool = False  # read without a start word


def _start_from_match(m: re.Match[str], p: str) -> tuple[timedelta, timedelta, str] | None:
    """(min, max, unit class of the upper bound) from a start-value match with group prefix p."""
    g = m.group
    if g(p + "irn"):
        d = _duration(g(p + "irn"), g(p + "iru"))
        if d is None or d[1] not in ("minute", "hour"):
            return None  # "Instant - 30 Days" is a refill window, not a start
        return timedelta(0), d[0], d[1]
    if g(p + "rb"):
        hi = _duration(g(p + "rb"), g(p + "rbu"))
        if hi is None:
            return None
        lo_unit = g(p + "rau") or g(p + "rbu")
        lo = _duration(g(p + "ra"), lo_unit)
        if lo is None:
            return None
        return lo[0], hi[0], hi[1]
    if g(p + "sn"):
        d = _duration(g(p + "sn"), g(p + "su"))
        if d is None:
            return None
        return timedelta(0), d[0], d[1]
    if g(p + "in"):
        return timedelta(0), timedelta(0), "instant"
    return None  # pragma: no cover


def _span(m: re.Match[str], p: str) -> tuple[int, int]:
    """Where the value (not the start word) of a start match sits."""
    names = [p + n for n in ("ir", "iru", "ra", "rbu", "sn", "su", "in")]
    starts = [m.start(n) for n in names if m.group(n) is not None]
    ends = [m.end(n) for n in names if m.group(n) is not None]
    return min(starts), max(ends)


def _start_ok(low: str, vstart: int, vend: int, lo: timedelta, hi: timedelta, unit: str,
              mt: _Matchers) -> bool:
    if lo > hi or hi > MAX_START:
        return False
    if _AFTER_BAD.match(low, vend):
        return False  # "60 Minutes Watch Time", "1000/Hour"
    if _PER_BEFORE.search(low[max(0, vstart - 6):vstart]):
        return False
    if unit in _DAYISH:
        rest = _SEPARATORS.match(low, vend)
        pos = rest.end() if rest else vend
        if mt.mention.match(low, pos) and not mt.refill_follow_number.match(low, pos):
            return False  # "[Start] [30 Days Refill]": the days belong to the refill
    if unit == "instant":
        before = low[max(0, vstart - 8):vstart]
        if _NEGATED.search(before) or mt.instant_after_bad.match(low, vend):
            return False
    return True


def _collect_start(nfkc: str, low: str, mt: _Matchers) -> list[_StartCandidate]:
    """Start readings: next to a start word, else zero-based ranges and the word Instant."""
    found: list[_StartCandidate] = []
    spans: list[tuple[int, int]] = []  # values already read next to a start word
    for pattern, p in ((mt.start_before, "b"), (mt.start_after, "a")):
        for m in pattern.finditer(low):
            parsed = _start_from_match(m, p)
            if parsed is None:
                continue
            lo, hi, unit = parsed
            vstart, vend = _span(m, p)
            if p == "a" and (
                mt.start_before.match(low, m.start("akw"))
                or (unit in _DAYISH
                    and mt.after_refill_word.search(low[max(0, vstart - 40):vstart]))
            ):
                continue  # "Garantía 30 días | Inicio Inmediato": the start word has its own value
            if _start_ok(low, vstart, vend, lo, hi, unit, mt):
                found.append(_StartCandidate(lo, hi, nfkc[m.start():m.end()].strip(),
                                             unit == "instant"))
                spans.append((vstart, vend))
    anchored = bool(found)
    taken: list[tuple[int, int]] = []
    for m in mt.bare_range.finditer(low):
        parsed = _start_from_match(m, "")
        if parsed is None or any(a <= m.start() < b for a, b in spans):
            continue
        lo, hi, unit = parsed
        if lo != timedelta(0) or unit not in ("minute", "hour"):
            continue  # "2-3 Min" (watch time), "1-5 Menit Setelah Post"
        if _BEFORE_BAD.search(low[max(0, m.start() - 30):m.start()]):
            continue
        if _start_ok(low, m.start(), m.end(), lo, hi, unit, mt):
            found.append(_StartCandidate(lo, hi, nfkc[m.start():m.end()].strip(), False, True))
            taken.append((m.start(), m.end()))
    if anchored:
        # "Instant Start / 0-1H": a zero-based range next to a start word still counts.
        return found
    for m in mt.bare_instant.finditer(low):
        if any(a <= m.start() < b for a, b in taken):
            continue  # already read as part of "Instant-6HRS"
        if _start_ok(low, m.start(), m.end(), timedelta(0), timedelta(0), "instant", mt):
            found.append(_StartCandidate(timedelta(0), timedelta(0),
                                         nfkc[m.start():m.end()].strip(), True, True))
    return found


def _pick_start(found: list[_StartCandidate], evidence: list[str]) -> StartWindow | None:
    if not found:
        evidence.append("start: no start time in the name")
        return None
    best = max(found, key=lambda c: (c.hi, -c.lo.total_seconds()))
    how = " (read without a start word)" if best.bare else ""
    if best.instant:
        evidence.append(f"start: '{best.text}' → instant{how}")
    else:
        evidence.append(f"start: '{best.text}' → {_human(best.lo)} to {_human(best.hi)}{how}")
    others = sorted({c.text for c in found if (c.lo, c.hi) != (best.lo, best.hi)})
    if others:
        evidence.append("start: also saw " + ", ".join(f"'{t}'" for t in others)
                        + "; kept the widest window")
    return StartWindow(best.lo, best.hi)


def _dayish(m: re.Match[str], low: str) -> int | None:
    """Days of a refill-window match, or None when it is not a single day-like figure."""
    d = _duration(m.group("n"), m.group("u"))
    if d is None or d[1] not in _DAYISH:
        return None
    if _RANGE_BEFORE.search(low[max(0, m.start("n") - 6):m.start("n")]):
        return None
    if _RANGE_AFTER.match(low, m.end("u")):
        return None
    days = d[0].total_seconds() / 86400
    if days != 0 and days < 1:
        return None
    return int(days)


def _collect_refill(nfkc: str, low: str, mt: _Matchers) -> tuple[
        list[tuple[int, str]], list[str], list[str]]:
    days: list[tuple[int, str]] = []
    life: list[str] = []
    none: list[str] = []

    def quote(m: re.Match[str]) -> str:
        return nfkc[m.start():m.end()].strip()

    for m in mt.refill_a.finditer(low):
        n = _dayish(m, low)
        if n is None or _AFTER_BAD.match(low, m.end()):
            continue
        follow = mt.followed_by_start.match(low, m.end())
        if follow and not mt.start_before.match(low, follow.start("kw")):
            continue  # "Guaranteed | 1 Day Start": the day is a start time
        days.append((n, quote(m)))
    for m in mt.refill_b.finditer(low):
        n = _dayish(m, low)
        if n is None:
            continue
        before = low[max(0, m.start() - 40):m.start()]
        if mt.start_before_text.search(before) or _BEFORE_BAD.search(before):
            continue  # "Start: 1 Day Refill…", "Stay 30 Days ♻️"
        days.append((n, quote(m)))
    for m in mt.r_code.finditer(low):
        n = int(m.group("n"))
        if n >= 7:
            days.append((n, quote(m)))
    for m in mt.recycle_number.finditer(low):
        days.append((int(m.group("n")), quote(m)))
    for pattern in (mt.life_1, mt.life_2, mt.r_life, mt.life_extra):
        if pattern is None:
            continue
        life.extend(quote(m) for m in pattern.finditer(low))
    for pattern in mt.none_patterns:
        none.extend(quote(m) for m in pattern.finditer(low))
    for m in re.finditer(r"(?<![^\W_])(?:NR|N/R)(?![^\W_])(?!\.)(?!\s*-?\d)", nfkc):
        none.append(m.group(0))
    # A zero-day window is a no-refill promise ("Refill: 0 Days").
    none.extend(text for n, text in days if n == 0)
    days = [(n, text) for n, text in days if 0 < n <= MAX_REFILL_DAYS]
    return days, life, none


def _quoted(texts: list[str]) -> str:
    seen: list[str] = []
    for t in texts:
        if t not in seen:
            seen.append(t)
    return ", ".join(f"'{t}'" for t in seen)


def _pick_refill(nfkc: str, low: str, mt: _Matchers, evidence: list[str]) -> RefillPolicy:
    days, life, none = _collect_refill(nfkc, low, mt)
    day_values = sorted({n for n, _ in days})
    day_texts = [t for _, t in days]
    if none and (days or life):
        evidence.append(f"refill: conflicting words {_quoted(none + life + day_texts)} → unknown")
        return RefillPolicy.unknown()
    if none:
        evidence.append(f"refill: {_quoted(none)} → no refill")
        return RefillPolicy.none()
    if life and days:
        if len(day_values) == 1 and day_values[0] >= 365:
            # "Lifetime Refill (365 Days)": panels mean a year; the stated number is the safe side.
            n = day_values[0]
            evidence.append(f"refill: {_quoted(life + day_texts)} → {n} days")
            return RefillPolicy.for_days(n)
        evidence.append(f"refill: conflicting words {_quoted(life + day_texts)} → unknown")
        return RefillPolicy.unknown()
    if life:
        evidence.append(f"refill: {_quoted(life)} → lifetime")
        return RefillPolicy.lifetime()
    if len(day_values) == 1:
        n = day_values[0]
        evidence.append(f"refill: {_quoted(day_texts)} → {n} day" + ("" if n == 1 else "s"))
        return RefillPolicy.for_days(n)
    if len(day_values) > 1:
        evidence.append(f"refill: different windows {_quoted(day_texts)} → unknown")
        return RefillPolicy.unknown()
    non_drop = [nfkc[m.start():m.end()] for m in mt.non_drop.finditer(low)]
    mentions = [nfkc[m.start():m.end()].strip() for m in mt.mention.finditer(low)]
    bare_life = [nfkc[m.start():m.end()] for m in mt.life_bare.finditer(low)]
    if mentions:
        evidence.append(f"refill: {_quoted(mentions)} without a window → unknown")
    elif bare_life:
        evidence.append(f"refill: {_quoted(bare_life)} without a refill or guarantee word"
                        " → unknown")
    elif non_drop:
        evidence.append(f"refill: {_quoted(non_drop)} says nothing about refill → unknown")
    else:
        evidence.append("refill: no refill wording in the name → unknown")
    return RefillPolicy.unknown()


# --- public API ---------------------------------------------------------------------------------


def parse_service_name(name: str, *, extra_keywords: Keywords | None = None) -> ParsedRules:
    """Start window and refill policy stated in a service name (never raises)."""
    try:
        nfkc, low = fold(name if isinstance(name, str) else str(name))
        mt = _matchers(extra_keywords)
        evidence: list[str] = []
        start = _pick_start(_collect_start(nfkc, low, mt), evidence)
        refill = _pick_refill(nfkc, low, mt, evidence)
        return ParsedRules(start, refill, tuple(evidence))
    except Exception as exc:  # noqa: BLE001 - a service name must never break the service cache
        return ParsedRules(None, RefillPolicy.unknown(),
                           (f"could not read the name: {type(exc).__name__}",))


def describe_window(start: StartWindow | None) -> str:
    if start is None:
        return "unknown"
    if start.instant:
        return "instant"
    if start.min == timedelta(0):
        return f"within {_human(start.max)}"
    return f"{_human(start.min)} to {_human(start.max)}"


def describe_refill(refill: RefillPolicy) -> str:
    if refill.kind == "days" and refill.days is not None:
        return f"{refill.days} day" + ("" if refill.days == 1 else "s")
    return {"lifetime": "lifetime", "none": "no refill"}.get(refill.kind, "unknown")


def describe(parsed: ParsedRules) -> str:
    """Plain English for logs and the console, e.g. 'Start: within 1 hour. Refill: 30 days.'"""
    return f"Start: {describe_window(parsed.start)}. Refill: {describe_refill(parsed.refill)}."
