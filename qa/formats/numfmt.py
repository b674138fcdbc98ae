"""A spreadsheet cell's number format applied to its value: the text the cell shows.

A workbook stores 0.98 and shows it through the cell's format code as 98%; 1234.5 as 1,234.50;
a date as 2025年3月15日. calamine (qa/formats/sheet.py) returns only the stored value, so the
codes are read beside it and applied here. Format codes are Excel's (ECMA-376 §18.8.31): up to four
`;`-separated sections (positive, negative, zero, text), quoted or `\\`-escaped literals, `[...]`
colours, conditions and locales, digit placeholders `0 # ?`, `,` thousands, `%`, `E+` and the date
letters y m d h s. What this does not cover (fractions, [DBNum] Chinese numerals, text sections)
returns None and the caller keeps the plain value: a shown value is better, a stored one is not wrong.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Built-in format ids a Chinese-locale Excel or WPS writes without defining them (ECMA-376 lists
# them as locale-dependent, so openpyxl and xlrd know none of them).
ZH_BUILTIN = {
    27: 'yyyy"年"m"月"', 28: 'm"月"d"日"', 29: 'm"月"d"日"', 30: "m-d-yy", 31: 'yyyy"年"m"月"d"日"',
    32: 'h"时"mm"分"', 33: 'h"时"mm"分"ss"秒"', 34: '上午/下午h"时"mm"分"', 35: '上午/下午h"时"mm"分"ss"秒"',
    36: 'yyyy"年"m"月"', 50: 'yyyy"年"m"月"', 51: 'm"月"d"日"', 52: 'yyyy"年"m"月"', 53: 'm"月"d"日"',
    54: 'm"月"d"日"', 55: '上午/下午h"时"mm"分"', 56: '上午/下午h"时"mm"分"ss"秒"', 57: 'yyyy"年"m"月"',
    58: 'm"月"d"日"',
}
# Built-in 14 is "the system's short date"; openpyxl and xlrd spell it the US way, a Chinese
# desktop shows 2025/3/15.
_SHORT_DATE = {"mm-dd-yy", "m/d/yy", "m/d/yyyy"}
_DATE_LETTERS = set("ymdhsYMDHS")
_AMPM = re.compile(r"AM/PM|A/P|上午/下午", re.IGNORECASE)
_PLACEHOLDERS = set("0#?")
_EPOCH = dt.datetime(1899, 12, 30)  # serial 1 is 1900-01-01 (with Lotus's phantom 1900-02-29 after it)
_WEEKDAYS_ZH = "一二三四五六日"


def render(value: object, code: str | None) -> str | None:
    """`value` (calamine's int, float, datetime, date or time) as the format `code` shows it;
    None where the code is General or outside what is covered."""
    if not code or isinstance(value, (bool, str)) or code.strip().lower() == "general":
        return None
    code = "yyyy/m/d" if code.strip() in _SHORT_DATE else code
    sections = _split(code)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        tokens = _tokens(sections[0])
        return _date(_as_datetime(value), tokens) if _is_date(tokens) else None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    sign = ""
    if value < 0 and len(sections) > 1:
        section, value = sections[1], -value
        # Excel shows "0;[Red]0" in red without a minus: the colour carries the sign on screen,
        # a text index has only the characters, so the minus is kept.
        sign = "" if re.search(r'[-(]', _strip_brackets(section)) else "-"
    elif value == 0 and len(sections) > 2:
        section = sections[2]
    else:
        section, sign, value = sections[0], "-" if value < 0 else "", abs(value)
    if section.strip().lower() == "general":
        return None
    tokens = _tokens(section)
    if _is_date(tokens):
        when = _EPOCH + dt.timedelta(days=value) if 0 <= value < 2_958_466 else None  # up to 9999-12-31
        return _date(when, tokens) if when else None
    try:
        return _number(value, tokens, sign)
    except InvalidOperation:  # past decimal's 28 digits (1e30 at 0.00): shown as stored
        return None


# --- code → tokens ----------------------------------------------------------------------------

def _split(code: str) -> list[str]:
    """The `;`-separated sections, a `;` inside quotes or brackets not splitting."""
    out, cur, quoted, bracket = [], [], False, False
    i = 0
    while i < len(code):
        ch = code[i]
        if ch == "\\" and i + 1 < len(code):
            cur.append(code[i:i + 2])
            i += 2
            continue
        quoted = not quoted if ch == '"' and not bracket else quoted
        bracket = (ch == "[" or bracket) and ch != "]" if not quoted else bracket
        if ch == ";" and not quoted and not bracket:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _strip_brackets(section: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", section)


def _tokens(section: str) -> list[tuple[str, str]]:
    """("lit", text) for what is shown as written; ("code", char) for a placeholder, a date letter,
    `.`, `,`, `%`, `E`; ("ampm", "AM/PM"); ("elapsed", "h") for [h]."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(section):
        ch = section[i]
        if ch == '"':
            end = section.find('"', i + 1)
            end = len(section) if end < 0 else end
            out.append(("lit", section[i + 1:end]))
            i = end + 1
        elif ch == "\\":
            out.append(("lit", section[i + 1:i + 2]))
            i += 2
        elif ch in "_*":  # _x: a space as wide as x; *x: x repeated to fill the cell
            i += 2
        elif ch == "[":
            end = section.find("]", i)
            end = len(section) if end < 0 else end
            inner = section[i + 1:end]
            if inner.startswith("$"):  # [$¥-804]: a currency symbol and a locale
                symbol = inner[1:].split("-")[0]
                if symbol:
                    out.append(("lit", symbol))
            elif re.fullmatch(r"[hms]+", inner, re.IGNORECASE):
                out.append(("elapsed", inner[0].lower()))
            i = end + 1  # colours, conditions, [DBNum1] are not characters
        elif (m := _AMPM.match(section, i)) is not None:
            out.append(("ampm", m.group()))
            i = m.end()
        elif ch in _PLACEHOLDERS or ch in ".,%" or ch in _DATE_LETTERS or ch in "Ee@aA":
            out.append(("code", ch))
            i += 1
        else:
            out.append(("lit", ch))
            i += 1
    return out


def _is_date(tokens: list[tuple[str, str]]) -> bool:
    return any(k == "elapsed" or (k == "code" and t in _DATE_LETTERS) for k, t in tokens)


# --- dates ------------------------------------------------------------------------------------

def _as_datetime(value: dt.datetime | dt.date | dt.time) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return dt.datetime.combine(_EPOCH.date(), value)


def _date(when: dt.datetime, tokens: list[tuple[str, str]]) -> str | None:
    # group runs of one date letter: "yyyy", "m", "dd", "hh", "ss", "aaaa"
    parts: list[tuple[str, str]] = []
    for kind, text in tokens:
        if kind == "code" and parts and parts[-1][0] == "code" and parts[-1][1][-1].lower() == text.lower() \
                and text.lower() in "ymdhsa":
            parts[-1] = ("code", parts[-1][1] + text)
        else:
            parts.append((kind, text))
    twelve = any(k == "ampm" for k, _ in parts)
    letters = [i for i, (k, t) in enumerate(parts) if k in ("code", "elapsed") and t[0].lower() in "ymdhs"]
    out = []
    for i, (kind, text) in enumerate(parts):
        low = text.lower()
        if kind == "lit":
            out.append(text)
        elif kind == "ampm":
            am = when.hour < 12
            out.append({"上午/下午": ("上午", "下午"), "a/p": ("A", "P")}.get(low, ("AM", "PM"))[0 if am else 1])
        elif kind == "elapsed":
            return None  # a duration ([h]:mm): calamine gives a timedelta, shown plainly
        elif low[0] == "y":
            out.append(f"{when.year:04d}" if len(low) > 2 else f"{when.year % 100:02d}")
        elif low[0] == "m":
            k = letters.index(i) if i in letters else -1
            prev = parts[letters[k - 1]][1].lower()[0] if k > 0 else ""
            nxt = parts[letters[k + 1]][1].lower()[0] if 0 <= k < len(letters) - 1 else ""
            if prev == "h" or nxt == "s":  # m after an hour or before a second is minutes
                out.append(f"{when.minute:02d}" if len(low) > 1 else str(when.minute))
            else:
                out.append([str(when.month), f"{when.month:02d}", when.strftime("%b"), when.strftime("%B"),
                            when.strftime("%b")[0]][min(len(low), 5) - 1])
        elif low[0] == "d":
            out.append([str(when.day), f"{when.day:02d}", when.strftime("%a"), when.strftime("%A")][min(len(low), 4) - 1])
        elif low[0] == "a" and len(low) >= 3:  # aaa 六, aaaa 星期六: the Chinese weekday
            day = _WEEKDAYS_ZH[when.weekday()]
            out.append(day if len(low) == 3 else "星期" + day)
        elif low[0] == "h":
            hour = (when.hour % 12 or 12) if twelve else when.hour
            out.append(f"{hour:02d}" if len(low) > 1 else str(hour))
        elif low[0] == "s":
            out.append(f"{when.second:02d}" if len(low) > 1 else str(when.second))
        elif low == ".":
            out.append(".")
        elif low == "0":  # ss.00: fractions of a second
            out.append(str(when.microsecond // 100_000))
        else:
            out.append(text)
    return "".join(out).strip()


# --- numbers ----------------------------------------------------------------------------------

def _number(value: float, tokens: list[tuple[str, str]], sign: str) -> str | None:
    codes = [t for k, t in tokens if k == "code"]
    if "@" in codes or any(k == "ampm" for k, _ in tokens) or any(k == "lit" and "/" in t for k, t in tokens):
        return None  # a text section, or a fraction (# ?/?)
    places = [i for i, (k, t) in enumerate(tokens) if k == "code" and t in _PLACEHOLDERS]
    percent = codes.count("%")
    if not places:  # only literals ("-" for zero, "免"): shown as written
        return sign + "".join(t for k, t in tokens if k == "lit") + "%" * percent
    first, last = places[0], places[-1]
    spec = "".join(t for k, t in tokens[first:last + 1] if k == "code")
    # trailing commas after the last digit scale by a thousand each (#,##0, shows 1234567 as 1,235)
    scale = 0
    for k, t in tokens[last + 1:]:
        if (k, t) != ("code", ","):
            break
        scale += 1
    try:
        number = Decimal(repr(float(value))) * (Decimal(100) ** percent) / (Decimal(1000) ** scale)
    except InvalidOperation:
        return None
    if "E" in spec.upper():
        mantissa = spec.upper().split("E")[0]
        decimals = len([c for c in mantissa.split(".", 1)[1] if c in _PLACEHOLDERS]) if "." in mantissa else 0
        body = f"{number:.{decimals}E}"
        head, exp = body.split("E")
        body = f"{head}E{exp[0]}{int(exp[1:]):02d}"
    else:
        whole, _, frac = spec.partition(".")
        decimals = sum(1 for c in frac if c in _PLACEHOLDERS)
        required = len(frac.rstrip("#?").replace(",", "")) if frac else 0
        rounded = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        body = f"{rounded:{',' if ',' in whole else ''}.{decimals}f}"
        if decimals > required:  # '#' decimals show only the digits that are not trailing zeros
            head, _, tail = body.partition(".")
            tail = tail[:required] + tail[required:].rstrip("0")
            body = head + ("." + tail if tail else "")
        digits = sum(1 for c in whole if c == "0")
        head, dot, tail = body.partition(".")
        if len(head.replace(",", "")) < digits:  # 000 shows 7 as 007
            head = head.replace(",", "").zfill(digits)
        body = head + dot + tail
        if rounded == 0:
            sign = ""  # -0.001 in 0.00 shows 0.00
    before = "".join(t for k, t in tokens[:first] if k == "lit")
    after = "".join(t if k == "lit" else ("%" if t == "%" else "") for k, t in tokens[last + 1:])
    return (sign + before + body + after).strip()
