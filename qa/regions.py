"""China's administrative divisions: which places lie within which, for region filters and checks.

    湖南 ⊃ 株洲 ⊃ 醴陵          a filter on 湖南 keeps 株洲's and 醴陵's documents
    莆田 ⊂ 福建                 a question about 莆田 can be answered from a 福建 document

The gazetteer is the table of division codes the `cpca` package ships (adcodes.csv: 12-digit code
and name, 2 digits per level); it is read as data, not through cpca's own loader. Names are kept
with their suffix dropped as the rest of the project drops it ("湖南省" → "湖南", "株洲市" → "株洲").
A name no division carries (东西, 城市, a foreign country) is not a region here.
"""
from __future__ import annotations

import csv
import logging
import re
from functools import lru_cache
from importlib import metadata

log = logging.getLogger(__name__)

_SUFFIX = re.compile(r"(?:自治区|自治州|自治县|自治旗|特别行政区|地区|新区|省|市|盟|州|县|区|旗)$")
_LEVELS = (2, 4, 6)  # code digits of a province, a city, a county


def _file(name: str):
    return metadata.distribution("cpca").locate_file(f"cpca/resources/{name}")


@lru_cache(maxsize=1)
def _nations() -> tuple[str, ...]:
    """The 56 nationalities (a file cpca ships), longest first: they end autonomous areas' names."""
    try:
        with open(_file("56_nations.csv"), encoding="utf-8") as f:
            names = {line.strip() for line in f if line.strip()}
    except (metadata.PackageNotFoundError, OSError):
        return ()
    return tuple(sorted(names | {n[:-1] for n in names if n.endswith("族")}, key=len, reverse=True))


def short(name: str) -> str:
    """"湖南省" → "湖南", "恩施土家族苗族自治州" → "恩施"; a name that would shrink below two
    characters stays whole ("东区")."""
    cut = _SUFFIX.sub("", name)
    if cut != name:  # only an autonomous area's name ends in its nationalities
        while (n := next((n for n in _nations() if cut.endswith(n) and len(cut) - len(n) >= 2), None)):
            cut = cut[:-len(n)]
    return cut if len(cut) >= 2 else name


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(name → codes, code → short name) of every province, city and county."""
    try:
        with open(_file("adcodes.csv"), encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (metadata.PackageNotFoundError, OSError) as e:  # the hierarchy is a refinement: without it, exact names
        log.warning("administrative divisions unavailable (%s): regions match by name only", e)
        return {}, {}
    codes: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for row in rows:
        code = row["adcode"][:6]
        level = next((n for n in _LEVELS if code[n:] == "0" * (6 - n)), 6)
        key = code[:level]
        name = short(row["name"].strip())
        names[key] = name
        codes.setdefault(name, set()).add(key)
    return {k: frozenset(v) for k, v in codes.items()}, names


def is_region(name: str) -> bool:
    """Whether a province, city or county of China is called `name` (suffix dropped); every name
    is taken for one when the gazetteer cannot be read."""
    codes = _table()[0]
    return not codes or short(name) in codes


@lru_cache(maxsize=4096)
def within(name: str) -> frozenset[str]:
    """Every division inside `name` (its cities, counties), by short name; `name` itself included."""
    codes, names = _table()
    mine = codes.get(short(name), frozenset())
    inside = {n for key, n in names.items() if any(key != c and key.startswith(c) for c in mine)}
    return frozenset({short(name), *inside})


@lru_cache(maxsize=4096)
def around(name: str) -> frozenset[str]:
    """Every division `name` lies in (its city, its province), by short name; `name` itself included."""
    codes, names = _table()
    out = {short(name)}
    for code in codes.get(short(name), ()):
        out |= {names[code[:n]] for n in _LEVELS if n < len(code) and code[:n] in names}
    return frozenset(out)


def covers(asked: str, place: str) -> bool:
    """Whether a text about `place` can speak for `asked`: the same division, one inside it, or one
    it lies in ("湖南" for a question about 株洲; "株洲" for a question about 湖南)."""
    a, p = short(asked), short(place)
    return a == p or p in within(a) or p in around(a)
