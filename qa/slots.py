"""The span a 什么/哪个/哪里/谁 question asks for, found by lining the question up with a sentence.

A question usually restates its sentence with the answer replaced by a question word:

    生命数耗完即算为什么？        ↔  …生命数耗完即算为踢爆。          → 踢爆
    乍都节公园位于什么地方？      ↔  乍都节公园位于泰国首都曼谷的…县   → 泰国首都曼谷的…县

The words before the question word end where the answer starts in the sentence, the words after
it start where the answer ends. Either side may be missing or paraphrased; what is matched is the
longest run of the question's text found in the sentence on each side (at least two characters).
Works on any text: nothing here knows a document, a place or a number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# The asking word and what it asks for; longest first so 什么时候 is not read as 什么.
# 哪一个, 哪一位…: read as 哪个, 哪位 (`_ONE_WHICH`)
WH = re.compile(r"什么时候|什么地方|什么人|哪一年|哪一天|哪一[个位座家国种类部本]|哪个|哪位|哪里|哪儿|哪座|哪家|哪国|哪种|哪类|哪部|哪本|哪|什么|谁|何地|何处|何人|何种|何职|多少|几")
_LEAD = re.compile(r"^(?:请问|那么|那)\s*")
_TAIL = re.compile(r"[呢吗啊呀]?\s*[？?。！!]*$")
# Words that stand between the restated part and the answer without being part of the answer.
_EDGE_LEFT = "是为在于由被叫称作成了着的和与及、，,：: "
_EDGE_RIGHT = "的是了则也都就才又便亦而，,。；;：: "
_TOGETHER = ("一起", "同时")  # the question's "和谁一起参与", which the sentence need not say
_PREPOSITIONS = "由被在给向对与和从把将以于跟同"
_PLACED = "于在自至到"  # after a verb: where it happened ("发现于…")
_HAVE = ("具备", "具有", "拥有", "设有", "建有", "配有")  # what a sentence says for a question's 有
_TIED = re.compile(r"[于在自至到为是](?!.*[于在自至到为是])")  # the last such tie of a span
# Words that open the answer's clause without being the answer: a verb of place, "及后", "一名", "其中", a
# pronoun's "它的", the "用来" of what a thing is used for, a parenthesis right after the subject
# ("蒙泰罗（Tiago…，1976年生）是一名葡萄牙赛车手"), a time the clause opens with ("1980年代中某公司").
_PLACE_VERBS = r"位于|设于|坐落于|地处"
_LEAD_WORDS = re.compile(rf"{_PLACE_VERBS}|\d{{2,4}}年代?[初中末间](?:期|叶)?|分别[为是]|[便就即乃正]是|[及其之随]后|被?用[来于]|"
                         r"一[名个位座种家所部本条项位只间支艘架款首件场]|[（(][^）)]*[）)]|其中|[它他她]们?的|叫做|称作")
_BREAK = re.compile(r"[。！？!?；;]")
# Verbs that give a thing's other name: a question's "又叫什么" is answered by the sentence's "又名…"
# or "简称…" as well as by its own verb.
_NAMING = r"(?:或称|亦称|也称|亦作|又作|或作|一作|史称|人称|尊称|号称|昵称|外号|绰号|艺名|笔名|法号|谥号|又名|又称|原名|本名|初名|曾名|旧称|原称|别名|别称|俗名|俗称|简称|全称|通称|学名|又叫|也叫|叫做|称之为|称为|称作|名为|名叫)"
_NAMING_Q = re.compile(rf"的?(?:{_NAMING}|叫|(?<![\u4e00-\u9fff])[字号]|(?<=的)[字号])+之?$")  # 之: "又称之为什么"
_NAMING_S = re.compile(rf"(?:{_NAMING})[做为作]?|(?<=[，,、(（])[字号]")
NAME_NEAR = 12  # characters: a naming verb further from the subject names something else
_CLAUSE = re.compile(r"[，,：:；;。！？!?]")
MIN_RUN = 2  # characters: a single shared character says nothing
MAX_SPAN = 40  # characters: longer than this is a sentence, not a slot


@dataclass(frozen=True)
class Slot:
    start: int  # in the sentence
    end: int
    strength: float  # share of the question's text lined up around the slot (0–1)


# Question words that stand before a noun ("哪个部门", "什么机构"): that noun is the answer's head.
_DETERMINERS = {"哪个", "哪座", "哪家", "哪国", "哪种", "哪类", "哪部", "哪本", "哪", "什么", "哪位", "何种"}
_ONE_WHICH = re.compile(r"^哪一(?=[个位座家国种类部本])")


_ELIDED = re.compile(r"(?:是|为|叫|叫做|称为)\s*[？?]+\s*$")


def completed(question: str) -> str:
    """"X的主办方是？" asks "X的主办方是什么？": a question that ends on its copula has left out its 什么."""
    if WH.search(question) or not _ELIDED.search(question):
        return question
    return question.rstrip("？? ") + "什么？"


@lru_cache(maxsize=1024)  # asked of every sentence by several slot finders
def _parts(question: str) -> tuple[str, str, str] | None:
    q = _TAIL.sub("", _LEAD.sub("", completed(question).strip()))
    m = WH.search(q)
    if not m:
        return None
    return q[:m.start()], _ONE_WHICH.sub("哪", m.group(0)), q[m.end():]


@lru_cache(maxsize=1)
def _tagger():
    """jieba's part-of-speech tagger over the project's dictionary (made once: it loads the tag table)."""
    import jieba.posseg  # noqa: PLC0415

    from .lexical import _jieba  # noqa: PLC0415 - the same dictionary as everything else

    return jieba.posseg.POSTokenizer(_jieba())


def _starts(words: tuple[tuple[str, str], ...]) -> list[int]:
    """Where each tagged word starts, and where the last one ends."""
    at = [0]
    for w, _ in words:
        at.append(at[-1] + len(w))
    return at


@lru_cache(maxsize=4096)
def tags(text: str) -> tuple[tuple[str, str], ...]:
    """(word, part-of-speech flag) for each word of `text` (nr person, ns place, nt organisation …)."""
    return tuple((w.word, w.flag) for w in _tagger().cut(text))


def _head_noun(wh: str, right: str) -> str:
    """The nouns a determiner question word stands before ("哪个部门的…" → "部门", "哪家漫画公司的…" →
    "漫画公司"), or ""."""
    if wh not in _DETERMINERS or not right:
        return ""
    words = tags(right)
    run = 0
    while run < len(words) and words[run][1].startswith("n"):
        run += 1
    if not run:
        # "哪派的风格": a one-character kind jieba does not read as a noun
        return right[0] if wh == "哪" and re.match(r"[\u4e00-\u9fff]的", right) else ""
    # the whole run when it is the noun phrase ("漫画公司的…"), else its first noun ("农产品产量…")
    whole = run == len(words) or words[run][0] == "的"
    return "".join(w for w, _ in words[:run]) if whole else words[0][0]


def _suffix_run(left: str, sentence: str) -> tuple[int, int]:
    """(end in sentence, length) of the longest tail of `left` found in `sentence`. (A run that ends
    a few characters short of the tail was tried: on the tuning set it finds the wrong place more
    often than the right one.)"""
    for n in range(len(left), MIN_RUN - 1, -1):
        at = sentence.rfind(left[-n:])
        if at >= 0:
            return _after_subject(left[:-n], sentence, left[-n:], at) + n, n
    return -1, 0


def _after_subject(subject: str, sentence: str, tail: str, last: int) -> int:
    """Where the question's `tail` is said about its subject: when the sentence says the tail more than
    once ("甲（…主角某某）、乙（…主角某某）"), the first time after it names the subject, else the last time."""
    subject = subject.rstrip("的之")
    if len(subject) < MIN_RUN or sentence.find(tail) == last or (named := sentence.find(subject)) < 0:
        return last
    at = sentence.find(tail, named + len(subject))
    return at if at >= 0 else last


def _prefix_run(right: str, sentence: str, after: int) -> tuple[int, int]:
    """(start in sentence, length) of the longest head of `right` found in `sentence` from `after`."""
    for n in range(len(right), MIN_RUN - 1, -1):
        at = sentence.find(right[:n], after)
        if at >= 0:
            return at, n
    return -1, 0


def _clause_end(sentence: str, at: int) -> int:
    """Where the clause running on from `at` ends (the sentence's end when nothing breaks it)."""
    brk = _CLAUSE.search(sentence, at)
    return brk.start() if brk else len(sentence)


def _last_clause(sentence: str, start: int, end: int) -> int:
    """Where the last clause of sentence[start:end] starts, a comma inside brackets not counting; 0 when
    it is one clause."""
    depth, last = 0, 0
    for k in range(start, end):
        ch = sentence[k]
        depth += (ch in _PAIRS) - (ch in _CLOSERS)
        if depth <= 0 and _CLAUSE.match(ch):
            depth, last = 0, k + 1
    return last


def _clause_before(sentence: str, at: int) -> tuple[int, int] | None:
    """The clause of `sentence` that ends at `at`, when there is one."""
    starts = [m.end() for m in _CLAUSE.finditer(sentence, 0, at)]
    start = starts[-1] if starts else 0
    return (start, at) if at - start >= MIN_RUN else None


_DID = re.compile(r"(?:是|都)?(?:用来|用于|拿来|被用来|被用于)?(?:做|干|作)$")
_DEEDS = {"", "事", "事情", "工作"}  # "做了什么事情": a deed, not a thing the sentence names


@lru_cache(maxsize=1024)  # worked out once per question, then lined up with every sentence
def _asked(question: str) -> tuple[str, str, str, bool, bool] | None:
    parts = _parts(question)
    if parts is None:
        return None
    left, wh, right = parts
    # "…的官方名称是什么": the sentence may say 为 where the question says 是; the answer carries no 的
    # "哪国的哲学家" asks for the country: a head noun after 的 is what the answer modifies, not part of it
    owned = right.startswith("的")
    said = right.startswith("是")  # "什么是X": X is what is defined, not the answer's kind
    # "总部在哪里" ↔ "总部位于…": a question that ends so asks where, whatever the sentence's verb
    # "以什么而著称" ↔ "以…著称": a 而 the sentence may leave out
    left = left.rstrip("是为的了过" + ("在" if not right.strip("的是") else ""))
    right = right.lstrip("的是而")
    if (did := _DID.search(left)) and did.start() >= MIN_RUN and right in _DEEDS:
        # "博物馆是用来做什么的" ↔ "博物馆，展示…": 做 stands for the verb phrase that answers it
        left, right = left[:did.start()], ""
    return left, right, "" if owned or said else _head_noun(wh, right), wh in ("几", "多少"), wh in ("哪位", "谁", "什么人")


def _other_name(question: str, sentence: str) -> Slot | None:
    """"凉茶铺又叫什么" ↔ "凉茶铺，又名凉茶店，…": the name after the first naming verb that follows,
    closely, where the sentence says the question's subject."""
    parts = _parts(question)
    if parts is None or parts[2].strip("的是") or \
            not (verb := _NAMING_Q.search(parts[0]) or _NAMING_Q.search(parts[0].rstrip("是为"))):
        return None  # "被称为什么" keeps its 为, "别称是什么" drops its 是
    subject = parts[0][:verb.start()].rstrip("的被又也亦")  # "该棱柱被称为什么" ↔ "该棱柱便称为…"
    last, n = _suffix_run(subject, sentence) if len(subject) >= MIN_RUN else (-1, 0)
    if last < 0:
        return None
    own = re.compile(rf"{re.escape(verb.group(0).lstrip('的'))}[做为作]?(?=[^，,。]{{2}})")
    # where the sentence says the subject ("盾柱木（…），别称…，是盾柱木属的植物": its first mention names
    # it); the question's own verb first, then any naming verb ("X（学名：…），又名…": 又名 names it)
    for at in (m.end() for m in re.finditer(re.escape(sentence[last - n:last]), sentence)):
        for said in [*own.finditer(sentence, at), *_NAMING_S.finditer(sentence, at)]:
            if said.start() - at > NAME_NEAR:
                continue
            start, end = _halves(sentence, said.end(), _clause_end(sentence, said.end()))
            if (again := _NAMING_S.search(sentence, start, end)) and \
                    (sep := sentence.rfind("、", start, again.start())) > start:
                end = sep  # "甲本名某、乙本名某": another's name follows
            if MIN_RUN <= end - start <= MAX_SPAN and not _BREAK.search(sentence, start, end):
                return Slot(start, end, min(1.0, (n + len(verb.group(0))) / (len(parts[0]) or 1)))
    return None


_SCRIPT = r"英文|英语|外文|拉丁文|拉丁语|法文|法语|德文|德语|西班牙语|葡萄牙语|意大利语"
_SCRIPT_Q = re.compile(rf"的?({_SCRIPT})(全称|简称|缩写|名称|名字|名|译名|原名)?$")
_SCRIPT_S = re.compile(rf"(?:{_SCRIPT})(全称|简称|缩写|名称|名)?\s*[:：]\s*(?=[A-Za-z])")
_GLOSS = re.compile(r"\s*[（(]\s*(?=[A-Za-z])")
_LATIN_END = re.compile(r"[，,；;。）)]")


def _latin_name(question: str, sentence: str) -> Slot | None:
    """"X的英文名称是什么" ↔ "X（英语：Y）" or "英文全称：Y": a name in another script, said after its
    language, else the Latin gloss that follows the subject's name."""
    parts = _parts(question)
    if parts is None or parts[2].strip("的是") or not (asked := _SCRIPT_Q.search(parts[0].rstrip("是为叫"))):
        return None
    short = asked.group(2) in ("简称", "缩写")
    said = [m for m in _SCRIPT_S.finditer(sentence) if (m.group(1) in ("简称", "缩写")) == short]
    subject = parts[0][:asked.start()]
    if said:
        start = said[0].end()
    elif not short and len(subject) >= MIN_RUN and (run := _suffix_run(subject, sentence))[1] >= MIN_RUN and \
            (gloss := _GLOSS.match(sentence, run[0])):
        start = gloss.end()
    else:
        return None
    end = brk.start() if (brk := _LATIN_END.search(sentence, start)) else len(sentence)
    end = start + len(sentence[start:end].rstrip())
    return Slot(start, end, 1.0) if MIN_RUN <= end - start <= MAX_SPAN * 2 else None


_PAIRS = {"“": "”", "《": "》", "「": "」", "『": "』", "（": "）", "(": ")"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}
_ONE_OF = re.compile(r"的?一[个种位部座条家名只本项类]$")
_PLACE_ONE_OF = re.compile(r"的一[个种位部座条家名只本项类]")
_COUNTRY = {"国家", "国"}
_ORIGINAL = re.compile(r"[（(][A-Za-z][A-Za-z0-9 .,'&·\-]*[)）]$")


def _halves(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The span without half a quotation or bracket: an opener never closed in it ends it ("某银行（"
    → 某银行; at its start it is dropped); so does a closer never opened ("某名）是…", "某中心（Ab））"),
    but one at its start is dropped ("”为某语音译")."""
    for k in range(start, end):
        ch = sentence[k]
        if ch in _PAIRS and _PAIRS[ch] not in sentence[k + 1:end]:
            if k == start:
                start += 1
                continue
            return start, k
        if ch in _CLOSERS and sentence.count(_CLOSERS[ch], start, k) <= sentence.count(ch, start, k):
            if k - start > 1:  # "某名）是…": the answer is what it closes
                return start, k
            start = k + 1
    return start, end


# Nouns for a work, whose answer is its title in 《》.
_WORK = re.compile(r"电影|影片|小说|书|歌|曲|专辑|作品|剧|杂志|报|诗|漫画|游戏|节目|论文|著作|文章|唱片|单曲|动画|文件|法规|条例|办法|规划|方案")
_TITLE = re.compile(r"《[^《》]{1,40}》")


def _nearest_title(sentence: str, start: int, end: int) -> tuple[int, int] | None:
    """The 《title》 of `sentence` nearest the span [start, end) (or inside it), when the span is not one."""
    if "《" in sentence[start:end] and "》" in sentence[start:end]:
        return None
    titles = [(m.start(), m.end()) for m in _TITLE.finditer(sentence)]
    return min(titles, key=lambda t: max(t[0] - end, start - t[1], 0), default=None)


def _places_first(span: str) -> int:
    """The length of the place names a span opens with, when something else follows them; else 0."""
    at = 0
    for word, flag in tags(span):
        if not flag.startswith("ns"):
            break
        at += len(word)
    return at if 0 < at < len(span) else 0


def _first_of_places(span: str) -> int:
    """The length of the first of several place names a span is made of ("新加坡欧南区": the country
    first, then its parts), else 0."""
    words = tags(span)
    return len(words[0][0]) if len(words) > 1 and all(flag.startswith("ns") for _, flag in words) else 0


_CALLED = re.compile(r"(?:叫做|叫|称作|称)$")
_IS_CALLED = re.compile(r"[则便就也又即]?(?:叫做|称为|称作|名为|是|为|叫|称)")


def _before_its_kind(left: str, sentence: str) -> tuple[int, int, str, int] | None:
    """"达曼新建的机场叫什么" ↔ "达曼拥有新建的法赫德国王国际机场": a question that ends on the answer's kind
    (机场) is answered by the name the sentence puts right before that kind, after what the question
    says before it, or right after it ("最年轻的佳丽是某某"): (start, end, kind, characters of the
    question lined up), or None."""
    stem = _CALLED.sub("", left)
    words = tags(stem)  # the kind is a noun, or a noun jieba reads as a verb ("选手" in "…的选手")
    if not words or words[-1][1][0] not in "nv" or len(kind := words[-1][0]) < MIN_RUN \
            or re.fullmatch(_NAMING, kind) or kind in ("名字", "名称"):
        return None
    before = stem[:-len(kind)].rstrip("的")
    if len(before) < MIN_RUN:
        return None
    at = sentence.find(kind)
    while at >= 0:
        l_end, n = _suffix_run(before, sentence[:at])
        if n and not _CLAUSE.search(sentence, l_end, at):
            if sentence[l_end:at].strip(_EDGE_LEFT) or _WORK.search(kind):
                return l_end, at + len(kind), kind, n + len(kind)
            if said := _IS_CALLED.match(sentence, at + len(kind)):
                return said.end(), _clause_end(sentence, said.end()), "", n + len(kind)
        at = sentence.find(kind, at + 1)
    return None


_PLACED_AT = re.compile(_PLACE_VERBS)
_PLACE_OF = re.compile(r"([\u4e00-\u9fff]{1,2})地点?$")  # 出生地, 原产地, 发源地: where something was done
_WHERE = ("哪里", "哪儿", "何处", "何地", "什么地方", "哪")
_WHERE_ASKED = (*(w for w in _WHERE if w != "哪"), "在哪")  # a place itself is asked, not 哪个…


_ADDRESS = re.compile(r"\d+号$")  # "某路8号": a street address ends on its number


def _a_place(text: str) -> bool:
    """`text` ends on a place name (jieba's ns) or on a street address's number."""
    return tags(text)[-1][1].startswith("ns") or bool(_ADDRESS.search(text))


def _the_place(sentence: str, start: int, end: int) -> tuple[int, int]:
    """Asked where, the span as a place: one ending on no place gives way to what follows 位于 ("X是中国
    省级博物馆，位于某市某街"); one still ending on no place ends at its last 的 after a place ("栖息在南亚的
    亚洲野驴亚种" → 南亚, "位于某县头城镇的观光渔港" → 某县头城镇; "泰国的首都曼谷的某县" is all one place);
    one saying 位于 inside starts after it."""
    def ends_on_place(a: int, b: int) -> bool:
        return a < b and _a_place(sentence[a:b])

    if start < end and not ends_on_place(start, end) and (placed := _PLACED_AT.search(sentence, start)) and \
            placed.end() < _clause_end(sentence, placed.end()):
        start, end = placed.end(), _clause_end(sentence, placed.end())
    elif (placed := _PLACED_AT.search(sentence, start + 1, end)) and ends_on_place(placed.end(), end) and \
            "的" not in sentence[placed.end():end]:
        start = placed.end()  # "某公司同样位于某市": what is placed is not the place (in "甲位于某海岸的乙港", 的 makes it 乙's)
    if not ends_on_place(start, end):
        end = next((at for at in range(end - 1, start, -1) if sentence[at] == "的" and ends_on_place(start, at)), end)
    return start, end


_HOME = r"祖籍|籍贯|原籍"
_HOME_Q = re.compile(rf"(?:{_HOME})(?:是|在|为)?$")
_HOME_S = re.compile(r"(?:^|[，,])([^，,。；;]{2,40}?)人(?=[，,。；;])")


def _home_of(question: str, sentence: str) -> Slot | None:
    """"X祖籍何处" ↔ "X，河南郡洛阳县人，…": where the sentence says no 祖籍, the place its clause
    calls the subject a native of."""
    parts = _parts(question)
    if parts is None or parts[1] not in _WHERE or parts[2].strip("的是") or not _HOME_Q.search(parts[0]) or \
            re.search(_HOME, sentence):
        return None
    for m in _HOME_S.finditer(sentence):
        start, end = _halves(sentence, m.start(1), m.end(1))
        if end - start >= MIN_RUN and any(flag.startswith("ns") for _, flag in tags(sentence[start:end])):
            return Slot(start, end, 0.5)
    return None


def _place_of(question: str, sentence: str) -> Slot | None:
    """"X的出生地在哪里" ↔ "X，出生于上海市": a place noun made of a verb and 地 is answered by what
    follows that verb and 于/在 in the sentence, to the end of its clause."""
    parts = _parts(question)
    if parts is None or parts[1] not in _WHERE or parts[2].strip("的是") or \
            not (m := _PLACE_OF.search(left := parts[0].rstrip("在是为位于"))):
        return None
    # "出生地" ↔ "出生于…" or, shorter, "生于…" ("发源地" ↔ "源于", "原产地" ↔ "产于")
    said = re.search(rf"{re.escape(m.group(1))}[于在自]", sentence) or re.search(rf"{re.escape(m.group(1)[-1])}于", sentence)
    if said is None:
        return None
    start, end = _halves(sentence, said.end(), _clause_end(sentence, said.end()))
    if not 0 < end - start <= MAX_SPAN:
        return None
    subject = left[:m.start()].rstrip("的")
    return Slot(start, end, min(1.0, (len(m.group(1)) + (len(subject) if subject and subject in sentence else 0))
                            / (len(left) or 1)))


_ADVERBIAL = ("d", "p", "m")  # jieba's adverb, preposition and numeral tags


def _without_adverbials(sentence: str, start: int, end: int) -> int:
    """Where a who-span standing before its verb ends without the adverbials between the doer and that
    verb ("香港某电视台已于2006年买下…" → 香港某电视台, "某国王第一次从…夺回" → 某国王)."""
    words = tags(sentence[start:end])
    k = len(words)
    while k > 1 and words[k - 1][1].startswith(_ADVERBIAL):
        k -= 1
    kept = sum(len(w) for w, _ in words[:k])
    return start + kept if kept >= MIN_RUN and not words[k - 1][1].startswith(_ADVERBIAL) else end


def _past_adverbs(sentence: str, start: int, end: int) -> int:
    """Where a who-span starts past the adverbs and conjunctions opening it ("唯独某某", "但只有某某"): they
    are never part of a name."""
    at = start
    for word, flag in tags(sentence[start:end]):
        if not flag.startswith(("d", "c")) or end - at - len(word) < MIN_RUN:
            break
        at += len(word)
    return at


def _named_after(sentence: str, start: int, end: int) -> int:
    """Where a who-span starts past what is said of its person before the name: a clause ending in 的
    ("任某院院长的某某") or the thing done by them ("本剧由某某"): the name is what jieba tags as a person."""
    for cut in (sentence.rfind("的", start, end), sentence.rfind("由", start, end)):
        if cut > start and end - cut - 1 >= MIN_RUN and tags(sentence[cut + 1:end])[0][1].startswith("nr"):
            return cut + 1
    return start


def _without_going(sentence: str, start: int, end: int) -> int:
    """Where a who-span ends without the 去/来 that sends its doer on ("派遣某某去给…送信" → 某某): the
    question's "派谁给…" does not say it."""
    words = tags(sentence[start:end])
    return end - 1 if len(words) > 1 and words[-1][0] in ("去", "来") and end - 1 - start >= MIN_RUN else end


def _whose(sentence: str, start: int, end: int) -> tuple[int, int]:
    """"X是谁的将领" is answered by whose: the span up to its last 的 or 之 ("某群雄韩遂的信任(将领)" → 某群雄韩遂),
    and, when a verb stands in it, the nouns after that verb ("朝廷走访王蕴(的女儿)" → 王蕴)."""
    cut = max(sentence.rfind("的", start, end), sentence.rfind("之", start, end))
    if cut - start >= MIN_RUN and sentence[end:end + 1] not in "的之":  # a span before 的 is whose already
        end = cut
    words = tags(sentence[start:end])
    verb = max((k for k, (_, flag) in enumerate(words) if flag.startswith("v")), default=-1)
    if verb >= 0 and all(flag.startswith("n") for _, flag in words[verb + 1:]) and \
            sum(len(w) for w, _ in words[verb + 1:]) >= MIN_RUN:
        start += sum(len(w) for w, _ in words[:verb + 1])
    return start, end


def _untied(left: str) -> str:
    """The two characters of the question's verb before its closing 于 ("毕业于" → 毕业), else ""."""
    return left[-3:-1] if left.endswith("于") and len(left) > MIN_RUN else ""


def _word_end(sentence: str, said: int, at: int, before: int) -> int:
    """Where the span after the question's words said from `said` to `at` starts: past the rest of a
    word they end inside ("派谁送信" ↔ "派遣某某送信" → 某某), unless that word runs on to `before`."""
    pos = said
    for word, _ in tags(sentence[said:before]):
        if pos < at < pos + len(word):
            return pos + len(word) if pos + len(word) < before else at
        pos += len(word)
    return at


def _word_at(sentence: str, pos: int) -> tuple[int, str]:
    """The jieba word of `sentence` holding position `pos`, with where it starts ((pos, "") past the end)."""
    at = 0
    for word, _ in tags(sentence):
        if at <= pos < at + len(word):
            return at, word
        at += len(word)
    return pos, ""


def _torn(sentence: str, start: int, end: int) -> bool:
    """A one-character span torn out of a word ("收藏家" → 家) is no answer."""
    return end - start == 1 and len(_word_at(sentence, start)[1]) > 1


def _opens_word(sentence: str, pos: int) -> bool:
    """Whether a longer word opens at `pos` ("在线申报": 在 is no tie there; "善于": 于 ends its word)."""
    at, word = _word_at(sentence, pos)
    return at == pos and len(word) > 1


def _restated(question: str, sentence: str, start: int, end: int, head: str) -> tuple[int, int] | None:
    """The span without what the question itself says at its edges: before a word that ties it to
    the answer ("2000年于香港" for "2000年在哪儿开设" → 香港; "1997年主演电视剧《某剧》" → 《某剧》), or after
    the answer's 的 or 而 ("某某的禁烟运动" for "配合谁开展禁烟运动" → 某某). Words the question shares
    with a name are the name's ("知识产权仲裁院" for "什么知识产权机构"), so nothing else is cut. None when
    the question says all of the span (and it is no work's title)."""
    if end - start >= MIN_RUN and sentence[start:end] in question and not _WORK.search(head):
        return None
    words = [w for w, _ in tags(sentence[start:end])]
    i, j = 0, len(words)
    while True:
        lead = next((k for k in range(j - 1, i, -1) if words[k] in _TIES and
                     len(run := "".join(words[i:k])) >= MIN_RUN and run in question), 0)
        tail = next((k for k in range(i + 2, j) if words[k - 1] == "的" or words[k] == "而"
                     if len(run := "".join(words[k:j])) >= MIN_RUN and run.lstrip("而") in question), 0)
        if not lead and not tail:
            break
        # the tie goes with the question's words, a title's opening 《 stays with the answer
        i, j = lead + (words[lead] not in _OPENERS) if lead else i, tail or j
    return start + sum(map(len, words[:i])), end - sum(map(len, words[j:]))


_OPENERS = set(_PAIRS) - {"（", "("}  # a title's or a quotation's opening mark
_TIES = {"于", "以", "在", "由", "从", "认为", "表示", "指出"} | _OPENERS  # …and whose words are reported


# "担任什么职务", "任何职", "居何职": an office held, which a sentence gives after its verb of office.
_OFFICE_Q = re.compile(r"(?:担任|出任|升任|调任|改任|转任|兼任|任|官居|位居|居|当)[了过]?(?:什么|何|哪个|哪些)"
                       r"(?:职务|职位|官职|官位|职|官)")
_OFFICE_S = re.compile(r"任职于|就职于|供职于|(?:担任|出任|升任|调任|改任|转任|兼任|连任|署理|接任|就任|历任|官至|升为|"
                       r"(?<![主责信现前首历继兼连担出升调改转接就卸])任(?![务何命意性期内教职免用]))[了过]?")
_OFFICE_END = re.compile(r"(?:一职|等职|职务|之职)$")


def _office(question: str, sentence: str) -> Slot | None:
    """"1998年至2000年，某某担任什么职务" ↔ "1998年至2000年任某市委书记": the office after the sentence's
    verb of office, to the end of its clause ("署理两广总督一职" → 两广总督)."""
    if (asked := _OFFICE_Q.search(question)) is None:
        return None
    said = next((m for m in _OFFICE_S.finditer(sentence) if sentence[m.start():m.end() + MIN_RUN] not in question), None)
    if said is None:  # an office the question itself names ("在某某担任市长时期") is not asked
        # "…，某某担任什么职务" ↔ "…，某某是某局处长": the office its holder is said to be (a verb of office
        # here would only bring back the one the question names)
        holder = _CLAUSE.split(question[:asked.start()])[-1]
        said = re.search(rf"{re.escape(holder)}(?:是|为|作为)", sentence) if len(holder) >= MIN_RUN else None
        if said is None:
            return None
    start, end = said.end(), _clause_end(sentence, said.end())
    if (tail := _OFFICE_END.search(sentence, start, end)) and tail.start() > start:
        end = tail.start()
    if not MIN_RUN <= end - start <= MAX_SPAN:
        return None
    before = question[:asked.start()]
    shared = sum(1 for ch in set(before) if ch in sentence[:start])  # how much of the asked context it shares
    return Slot(start, end, min(1.0, (shared + len(said.group(0))) / (len(set(before)) + 2 or 1)))


# "身体是什么颜色的", "呈什么形状", "在什么季节开花": a colour, a shape or a season, which a sentence
# says as a word ending in 色, 形/状 or 季 ("体呈银灰色", "花冠漏斗形", "秋季开花"), often with no word
# of the question beside it.
_LOOK_KINDS = ("颜色", "色彩", "体色", "花色", "毛色", "形状", "外形", "形态", "季节")
_LOOK_Q = re.compile(rf"({'|'.join(_LOOK_KINDS)})(?:是|为|呈)?(?:什么|何种|哪种)|(?:什么|何种|哪种|哪个)(颜色|色彩|形状|季节)")
# the kind's last character → what ends its words ("什么季节开花" ↔ "秋季开花")
_LOOK_END = {"色": "色", "彩": "色", "状": "形状", "形": "形状", "态": "形状", "节": "季"}
# Words so ending that name no colour or shape (nor the asked kind itself).
_NOT_LOOK = {"特色", "角色", "出色", "景色", "脸色", "本色", "声色", "货色", "成色", "夜色", "春色", "神色", "物色",
             "情形", "地形", "图形", "隐形", "变形", "成形", "畸形", "体形", "字形", "队形", "症状", "现状",
             "奖状", "罪状", "原状", "性状", "病状", "状态"} | set(_LOOK_KINDS)
_LINKS = {"呈", "为", "是", "开", "带", "显", "现", "作", "成", "具", "有", "的", "之", "了", "着", "呈现"}
_JOINS = {"或", "至", "到", "、", "和", "及", "与", "或近"}  # what may stand between two of them


def _look(question: str, sentence: str) -> Slot | None:
    """"X的身体是什么颜色的" ↔ "本鱼体呈银灰色": the words of the asked kind, with the one or two characters
    that make them a colour or shape ("淡蓝" + "红色", "漏斗" + "形"), and the ones said beside them
    ("白色或淡黄色")."""
    if (asked := _LOOK_Q.search(question)) is None:
        return None
    ends = _LOOK_END[(asked.group(1) or asked.group(2))[-1]]
    words = tags(sentence)
    at = _starts(words)
    found = []  # (start, end) of each colour or shape word
    for k, (w, _) in enumerate(words):
        prev, flag = words[k - 1] if k else ("", "x")
        if w[-1] not in ends or w in _NOT_LOOK or w in question and len(w) > 1:
            continue
        start = at[k]
        # a word of one or two characters and a describing one before it, not a count, pronoun or particle
        if len(w) <= 2 and prev and len(prev) <= 2 and flag[0] not in "mqrpuctdfx" and \
                prev not in _LINKS and prev not in _JOINS and prev not in question:
            start = at[k - 1]  # "淡蓝" + "红色", "漏斗" + "形"
        if start == at[k] and len(w) == 1:
            continue  # a bare 形 or 色 says nothing
        found.append((start, at[k + 1]))
    if not found:
        return None
    start, end = found[0]
    for a, b in found[1:]:  # "白色或淡黄色": one answer while only a joining word stands between
        if sentence[end:a] in _JOINS or a == end:
            end = b
        else:
            break
    # how much of what the question says before its ask the clause says ("总苞圆柱形" for 总苞's shape)
    before = set(question[:asked.start()]) - set("的是在了")
    clause = sentence[_last_clause(sentence, 0, start):_clause_end(sentence, end)]
    return Slot(start, end, min(1.0, 0.5 + sum(ch in clause for ch in before) / (2 * (len(before) or 1))))


# "在DVD分区属于第几区" ↔ "属第三区": 第, a numeral, and the kind the question puts after 几.
_ORDINAL_KIND = re.compile(r"第几([\u4e00-\u9fff])")
_NUMERAL = r"(?:\d+|[〇零一二两三四五六七八九十百千]+)"


def _ordinal(question: str, sentence: str) -> Slot | None:
    """"第几区" ↔ "第三区": the ordinal of the asked kind in the clause sharing most of the question."""
    if (asked := _ORDINAL_KIND.search(question)) is None:
        return None
    found = list(re.finditer(rf"第{_NUMERAL}{asked.group(1)}", sentence))
    if not found:
        return None
    return _closest(question[:asked.start()], sentence, [(m.start(), m.end()) for m in found])


# "X是哪个国家的演员" ↔ "X，日本喜剧演员": the place named right before the asked kind.
_NATION_Q = re.compile(r"(?:哪个|哪一个|哪|什么)国家?的?|哪国的?")


def _nation(question: str, sentence: str) -> Slot | None:
    """"哪个国家的演员" ↔ "日本喜剧演员": the place names nearest before the kind the question asks of."""
    parts = _parts(question)
    if parts is None or not (asked := _NATION_Q.match(parts[1] + parts[2])) or \
            parts[1] != "哪国" and (not parts[2] or tags(parts[2])[0][0] not in _COUNTRY):
        return None  # "什么国际联盟" asks no country
    kind = (parts[1] + parts[2])[asked.end():]
    run = next((kind[-n:] for n in range(len(kind), MIN_RUN - 1, -1) if kind[-n:] in sentence), "")
    if not run:
        return None
    found = []
    for m in re.finditer(re.escape(run), sentence):
        start = _last_clause(sentence, 0, m.start())
        words = tags(sentence[start:m.start()])
        places = [k for k, (_, flag) in enumerate(words) if flag.startswith("ns")]
        if places:
            k = places[-1]
            while k and words[k - 1][1].startswith("ns"):
                k -= 1
            at = start + sum(len(w) for w, _ in words[:k])
            found.append((at, at + sum(len(w) for w, _ in words[k:places[-1] + 1])))
    return _closest(parts[0], sentence, found) if found else None


# "X的职业是什么" ↔ "X（…），中国足球运动员": a noun of occupation, with the nouns that say its field.
_JOB_Q = re.compile(r"职业|从事什么(?:工作|行业)?$|是做什么的")
_JOB = re.compile(r"(?:演员|歌手|运动员|球员|主持人|导演|编剧|制作人|制片人|模特儿?|诗人|商人|艺人|记者|教授|学者|律师|医生|"
                  r"教师|官员|外交官|军人|主播|[^国大人自专全住皇行玩东买卖家]家|[^老大祖法牧技厨教医]师|歌星|影星)$")


def _occupation(question: str, sentence: str) -> Slot | None:
    """"X的职业是什么" ↔ "中国足球运动员" → 足球运动员: the occupation without the place before it."""
    if _JOB_Q.search(question) is None:
        return None
    words = tags(sentence)
    at = _starts(words)
    found = []
    for k, (w, _) in enumerate(words):
        if not (job := _JOB.search(w)) or w in question:
            continue
        start, end = at[k], at[k + 1]
        lead = w[:job.start()]
        if all(flag.startswith("ns") for _, flag in tags(lead)):
            start += len(lead)  # "台湾歌手" → 歌手: where is not what
        while k and words[k - 1][1] == "n" and words[k - 1][0] not in question:
            k -= 1  # "足球" + "运动员"
            start = at[k]
        found.append((start, end))
    return _closest(question, sentence, found) if found else None


def _closest(question: str, sentence: str, spans: list[tuple[int, int]]) -> Slot:
    """Of several spans of the asked kind, the one whose clause says most of the question's characters."""
    asked = set(question) - set("的是在了什么哪个几第")

    def shared(span: tuple[int, int]) -> int:
        clause = sentence[_last_clause(sentence, 0, span[0]):_clause_end(sentence, span[1])]
        return sum(ch in clause for ch in asked)

    start, end = max(spans, key=shared)
    return Slot(start, end, min(1.0, 0.5 + shared((start, end)) / (2 * (len(asked) or 1))))


# "X的创办者/主办方/制作人是谁": who did the verb the noun is made of.
_AGENT_Q = re.compile(r"([\u4e00-\u9fff]{2})(?:者|方|人|商)$|(?<=的)([\u4e00-\u9fff]{2})$")  # 主办方; 的原唱
_AGENT_BY = re.compile(r"由([^，,。；;由]{2,30}?)(?:所|负责|共同|联合|一手)?$")


def _agent(question: str, sentence: str, bare: bool = False) -> Slot | None:
    """"X的主办方是谁" ↔ "X由某协会主办" or "某协会主办X" or "主办者为某协会": who does the verb the
    asked noun is made of (主办方 → 主办): after 由, before the verb in its clause, or after "V者/V方 是".
    `bare`: the question names the verb itself ("X的原唱是谁"), answered only by "由某某原唱"."""
    parts = _parts(question)
    if parts is None or parts[1] not in ("谁", "什么", "哪个", "哪位", "哪家", "什么人") or parts[2].strip("的是") or \
            not (m := _AGENT_Q.search(parts[0].rstrip("是为"))) or bool(m.group(2)) != bare or \
            (verb := m.group(1) or m.group(2)) in ("主人", "负责"):
        return None
    subject = parts[0][:m.start()].rstrip("的")
    shared = _suffix_run(subject, sentence)[1] if len(subject) >= MIN_RUN else 0
    found = []  # (the question's characters its clause holds, Slot), in the sentence's order
    for at in (k.start() for k in re.finditer(re.escape(verb), sentence)):
        by = None
        named = re.match(rf"{re.escape(verb)}(?:者|方|人|商)(?:是|为)", sentence[at:])
        if named:  # "主办者为某协会"
            start, end = at + named.end(), _clause_end(sentence, at + named.end())
            clause = sentence[at:end]
        else:
            if (before := _clause_before(sentence, at)) is None:
                continue
            start, end = before
            clause = sentence[start:end]
            if by := _AGENT_BY.search(sentence, start, end):  # "由某协会（所）主办"
                start, end = by.start(1), by.end(1)
            elif sentence[at + len(verb):at + len(verb) + 1] in ("者", "方", "人", "商") and \
                    (copula := sentence.rfind("是", start, at)) - start >= MIN_RUN:
                # "研究人员认为某科是它们主要授粉者": who is said to be the asked noun, past the question's words
                start, end = _restated(question, sentence, start, copula, "") or (start, copula)
        start, end = _halves(sentence, start, end)
        if not (named or by or shared) or bare and not by:
            continue  # a bare "某某主办" in a sentence that does not name X may be of anything
        if MIN_RUN <= end - start <= MAX_SPAN and sentence[start:end] not in question:
            found.append((len(set(subject) & set(clause)),
                          Slot(start, end, min(1.0, (len(verb) + shared) / (len(parts[0]) or 1)))))
    # "此前由甲代理，目前由乙代理": the clause that says what else the question says (目前)
    return max(found, key=lambda f: f[0])[1] if found else None


# A span that points at what it means instead of saying it: a pronoun or demonstrative ("此树", "其下",
# "该书"), a head count of people ("两人"), or words that only introduce ("以下", "例如", "如下").
_POINTING = re.compile(r"^(?:[此该其这那][\u4e00-\u9fff]{0,2}|[两二三四五六七八九十几数]+[人者位]|以下|如下|下列|例如|比如|前者|后者|上述|"
                       r"双方|彼此|自己|本人)$")
_SAYS_NOTHING = ("r", "f", "d", "c", "p", "u")  # jieba: pronoun, locality, adverb, conjunction, preposition, particle
_PROPER = ("nr", "ns", "nt", "nz")  # jieba: a person's, a place's, an organisation's or another proper name


def _pointing(span: str) -> bool:
    """`span` names nothing: it points at what the sentence says elsewhere, or its words only tie others.
    (An anonymised name, "某某", "张某某", jieba tags a pronoun too: it names someone.)"""
    words = tags(span)
    if "某" in span or any(flag.startswith(_PROPER) for _, flag in words):
        return False  # "那曲", "那坡县": a place's name may open like a demonstrative
    return bool(_POINTING.match(span)) or all(flag.startswith(_SAYS_NOTHING) for _, flag in words)


def slot(question: str, sentence: str) -> Slot | None:
    """The span of `sentence` (both already normalised alike) that fills the question's slot."""
    asked = _asked(question)
    if asked is None:
        return None
    found = _other_name(question, sentence) or _place_of(question, sentence) or _home_of(question, sentence) or \
        _office(question, sentence) or \
        _look(question, sentence) or _ordinal(question, sentence) or _occupation(question, sentence) or \
        _nation(question, sentence) or _latin_name(question, sentence) or _agent(question, sentence, bare=True) or \
        _by_whom(question, sentence) or \
        _lined_up(question, sentence, *asked) or _agent(question, sentence)
    return None if found is None or _pointing(sentence[found.start:found.end]) else found


_APART = re.compile(r"[，,：:；;。！？!?（(]")  # a clause break or a gloss: "某某集团（简称某某）" is no restatement


def _earlier(sentence: str, l_end: int, l_len: int, right: str) -> tuple[int, int, int]:
    """The question's words before its asking word said twice, and those after it only after the first
    time ("1997年主演电视剧《某剧》出道，2011年主演电视剧《另一剧》"): (l_end, r_start, r_len) of the
    latest earlier time followed by them, else (l_end, -1, 0) as found."""
    said = sentence[l_end - l_len:l_end]
    at = sentence.rfind(said, 0, l_end - l_len)
    while at >= 0:
        r_start, r_len = _prefix_run(right, sentence, at + l_len)
        if r_len and r_start < l_end - l_len and not _APART.search(sentence, at + l_len, r_start):
            return at + l_len, r_start, r_len
        at = sentence.rfind(said, 0, at)
    return l_end, -1, 0


# "哪个部门牵头", "由哪家单位主办": a notice says who does it with 由 ("由某局牵头，某某等部门配合"); the
# kind the question names may stand after another name in the sentence, so lining the words up misses it.
_BY_Q = re.compile(r"(?:由|是)?(?:哪个|哪家|哪些|什么)(?:部门|单位|机构|机关|组织)?"
                   r"(牵头|负责|主办|承办|组织|实施|发布|印发|出台|颁布|制定|解释|审批|受理|主管|管理)")
# … or asked of the doer's role: "牵头单位是哪个", "主办方是谁"
_BY_NOUN_Q = re.compile(r"(牵头|主办|承办|主管|实施)(?:单位|部门|机构|机关|方)(?:是|为)?(?:哪个|哪家|哪些|什么|谁)")
# When it was done said before the doer ("近日，某局印发…", "日前某局出台…"): no part of the doer.
_WHEN_FIRST = r"(?:近日|日前|近期|最近|今年|去年|\d{4}年(?:\d{1,2}月(?:\d{1,2}日)?)?|\d{1,2}月\d{1,2}日)?"


def _by_whom(question: str, sentence: str) -> Slot | None:
    """The doer after 由, right before the verb the question asks who does ("由某局牵头" → 某局); else the
    doer the verb's clause opens with ("近日，某局印发《…》" → 某局), never one after 由."""
    if not (m := _BY_Q.search(question) or _BY_NOUN_Q.search(completed(question))):  # "主办方是？"
        return None
    if by := re.search(rf"由([^，,。；;、由]{{2,24}}?)(?:负责|统一|具体|共同)?{m.group(1)}", sentence):
        return Slot(by.start(1), by.end(1), 0.8)
    # A 由 elsewhere names another doer of another verb ("由某联会认可，某总会主办"): not this clause's.
    doer = re.search(rf"(?:^|[，,。；;])\s*{_WHEN_FIRST}([^，,。；;、\d“”《》由]{{2,16}}?)"
                     rf"(?:正式|联合|共同|专门)?{m.group(1)}", sentence)
    return Slot(doer.start(1), doer.end(1), 0.6) if doer else None


def _edge_word(span: str) -> bool:
    """Whether the span opens with a word made of edge characters only ("在", "作为", "由于"), not a word
    that merely starts with one ("在线申报", "成都", "和平")."""
    return all(ch in _EDGE_LEFT for ch in tags(span)[0][0])


def _said_otherwise(words: str, endings, sentence: str, keep: int = 0) -> tuple[int, int]:
    """`_suffix_run` of the question's `words` followed by each of `endings` (in place of the question's own
    last word): the longest that holds at least `keep` characters of `words` ((-1, 0) when none does)."""
    runs = [run for end in endings if (run := _suffix_run(words + end, sentence))[1] >= len(end) + keep]
    return max(runs, key=lambda r: r[1], default=(-1, 0))


def _lined_up(question: str, sentence: str, left: str, right: str, head: str, counted: bool, person: bool) \
        -> Slot | None:
    """The span between where the question's words before and after its asking word are found."""
    l_end, l_len = _suffix_run(left, sentence) if len(left) >= MIN_RUN else (-1, 0)
    if l_len < MIN_RUN + 1 and len(left) > MIN_RUN and left[-1] in _PLACED:
        # "源于哪里" ↔ "源自法语", "用在什么场合" ↔ "用于…": the sentence ties the verb with another of
        # 于/在/自/至/到 — unless its clause says the question's own tie later ("比赛于某日在某地")
        tied = _said_otherwise(left[:-1], _PLACED, sentence)
        if tied[1] > l_len and left[-1] not in sentence[tied[0]:_clause_end(sentence, tied[0])]:
            l_end, l_len = tied
        elif not l_len and left.endswith("于") and any(w in question for w in _WHERE_ASKED) and \
                (bare := _suffix_run(left[:-1], sentence))[1] >= MIN_RUN and \
                sentence[bare[0]:bare[0] + 1] not in (*_EDGE_RIGHT, "了", "过", "着", ""):
            l_end, l_len = bare  # "座落于什么地方" ↔ "座落某市某路8号": the verb with no tie at all
    if l_len < MIN_RUN + 1 and len(left) > MIN_RUN and left[-1] == "有":
        # "该平台有什么功能" ↔ "该平台具备在线申报…等功能": the sentence says its having with another verb
        # (the question's words before 有 must come right before the verb: "具有毒性" alone says nothing)
        if (had := _said_otherwise(left[:-1], _HAVE, sentence, keep=MIN_RUN))[1] > l_len:
            l_end, l_len = had
    r_start, r_len = _prefix_run(right, sentence, max(l_end, 0)) if len(right) >= MIN_RUN else (-1, 0)
    if not r_len and len(right) > MIN_RUN and ((words := tags(right))[0][1] == "d" or words[0][0] in _TOGETHER):
        # "谁一直跟随左右" ↔ "唯独某某跟随": the question's adverb, which the sentence need not say
        right = right[len(words[0][0]):]
        r_start, r_len = _prefix_run(right, sentence, max(l_end, 0)) if len(right) >= MIN_RUN else (-1, 0)
    if l_len and not r_len and len(right) >= MIN_RUN:
        l_end, r_start, r_len = _earlier(sentence, l_end, l_len, right)
    if not l_len and not r_len and (verb := _untied(left)) and \
            (last := re.search(rf"{re.escape(verb)}(?=[，,。；;]|$)", sentence)):
        r_start, r_len = last.start(), last.end() - last.start()  # "毕业于哪所大学" ↔ "某学院某系毕业。"
    if head and len(right) - len(head) >= MIN_RUN:
        # "哪个农产品产量全国第一" ↔ "薏仁米产量全国第一": the sentence names the thing, not its kind
        without = _prefix_run(right[len(head):].lstrip("的"), sentence, max(l_end, 0))
        if without[1] > r_len:
            r_start, r_len = without
    if l_len and not r_len and len(right) >= MIN_RUN and right != head:
        # "X是谁的作品" ↔ "某某的作品X…": the sentence puts the answer and what follows it first (the
        # answer's kind alone, "哪个足球场", says nothing of where the answer is)
        before, n = _prefix_run(right, sentence, 0)
        if n and before + n <= l_end - l_len:
            l_end, l_len, r_start, r_len = -1, 0, before, n
    if l_len == 0 and r_len == 0:
        if right.strip() or (named := _before_its_kind(left, sentence)) is None:
            return None
        start, end, head, l_len = named
    elif l_len and r_len and r_start - l_end > 1:
        start, end = _word_end(sentence, l_end - l_len, l_end, r_start), r_start
        if (last := _last_clause(sentence, start, end)) and end - last >= MIN_RUN:
            start = last  # "X早年就读某书院，及后于某大学毕业": the clause that meets the question's next words
        if head and sentence.startswith(head, end):  # "市场监管部门": the head noun is the answer's
            end += len(head)
        elif counted and r_len <= 4:  # "实现了几证合一" ↔ "实现二十六证合一": the count and what it counts
            end = r_start + r_len
    elif l_len and r_len == len(right) and sentence[r_start + r_len:r_start + r_len + 1] in ("：", ":"):
        start = r_start + r_len + 1  # "包含哪两个族" ↔ "包含两个族：甲族、乙族": what the colon introduces
        end = brk.start() if (brk := _BREAK.search(sentence, start)) else len(sentence)
    elif l_len and r_len:  # "成立了什么知识产权机构" ↔ "成立知识产权仲裁院": the answer starts at its kind
        # … but a person's title is not their name: "从师于哪位漫画家" ↔ "从师于漫画家某某" → 某某
        start = r_start + r_len if person and head else r_start
        end = _clause_end(sentence, start + 1)
        rest = right[len(head):].lstrip("的") if head and right.startswith(head) else ""
        if len(rest) >= MIN_RUN and (after := _prefix_run(rest, sentence, r_start + r_len))[1] and after[0] < end:
            end = after[0]  # "参加什么节目而走红" ↔ "参加节目《某某》而走红": up to what the question says next
    elif l_len and sentence[l_end - 1] == "”" and "“" in sentence[l_end - l_len:l_end] and \
            (lead := _clause_before(sentence, sentence.rfind("“", 0, l_end))):
        start, end = lead  # "…的“两个战略”是什么" ↔ "实施质量强省、知识产权强省“两个战略”": named before the name
    elif l_len and not sentence[l_end:l_end + 1].strip(_EDGE_RIGHT) and not right.strip() and \
            sentence[l_end - l_len - 1:l_end - l_len] in ("是", "为") and \
            (lead := _clause_before(sentence, l_end - l_len - 1)):
        start, end = lead  # "X的主街道是什么" ↔ "某公路是X的主街道。": the sentence names it first
        if sentence[l_end - l_len - 1] == "为" and sentence.startswith("以", start):
            start += 1  # "以A为B": A
    elif l_len:  # the answer runs from the restated part to the end of its clause
        start = l_end
        opened = 0
        if sentence.startswith("在于", start):  # "区别在哪里" ↔ "区别在于…": what it lies in, not a place
            start += 2
            opened = len(sentence[start:]) - len(sentence[start:].lstrip("，,：: "))
            start += opened  # "在于：甲，乙；": what the mark opens, to the sentence's break
        end = (brk.start() if (brk := _BREAK.search(sentence, start)) else len(sentence)) if opened \
            else _clause_end(sentence, start + 1)
    elif sentence[r_start + r_len:r_start + r_len + 1] in _PLACED and left.endswith(("在", "从")) and \
            (brk := _CLAUSE.search(sentence, r_start + r_len)) is not None and brk.start() - r_start - r_len > 2:
        # "在哪里发现的" ↔ "化石发现于某县": the sentence puts the place after the verb
        start, end = r_start + r_len + 1, brk.start()
    else:  # the answer runs back from the restated part to the start of its clause
        end = r_start
        brk = [m.end() for m in _CLAUSE.finditer(sentence, 0, max(end - 1, 0))]
        start = brk[-1] if brk else 0
        # … or from the preposition the question puts before the asking word ("由谁" ↔ "1975年由某局")
        if left and left[-1] in _PREPOSITIONS and (at := sentence.rfind(left[-1], start, end - 1)) >= 0:
            start = at + 1
            if left[-1] in "由被" and sentence[end - 1:end] == "所":
                end -= 1  # "由某某所创作": 所 goes with the verb
        if person:
            end = _without_adverbials(sentence, start, end)
        elif head and right.startswith(head) and sentence.startswith(head, end) and \
                (tie := _TIED.search(sentence, start, end - 1)) and not _opens_word(sentence, tie.start()):
            # "可追溯到什么时期" ↔ "其制度可以追溯至西周时期": the question's next word is the answer's kind,
            # which the sentence says after what is asked, and a verb's 至/于/为/是 opens it ("受到哪种音乐风格
            # 的影响" ↔ "是欧洲流行音乐风格的舞曲")
            start, end = tie.end(), end + len(head)
    start, end = _halves(sentence, start, end)
    if (kept := _restated(question, sentence, start, end, head)) is None:
        return None
    start, end = kept
    while True:
        if head and sentence.startswith(head, start) and end - start > len(head) + 1:
            start += len(head)  # "什么游戏" ↔ "(是)游戏某某": the name after its kind
        elif lead := _LEAD_WORDS.match(sentence, start, end):
            start = lead.end()
        elif (verb := _untied(left)) and end - start > 2 and \
                (said := next((v for v in (verb, verb[-1]) if sentence.startswith(v, start)), "")):
            start += len(said)  # "属于什么设施" ↔ "属某署设施": the question's verb, said without its 于
        elif start < end and sentence[start] in _EDGE_LEFT and _edge_word(sentence[start:end]):
            start += 1
        else:
            break
    while end > start and sentence[end - 1] in _EDGE_RIGHT:
        end -= 1
    if (latin := _ORIGINAL.search(sentence, start, end)) and latin.start() - start >= MIN_RUN:
        end = latin.start()  # "某某（Thomas Holtz）": the name, without its original spelling
    if (one := _ONE_OF.search(sentence, start, end)) and one.start() > start:
        end = one.start()  # "…坚尾龙类的一个(演化支)": what it is one of
    elif (one := _PLACE_ONE_OF.search(sentence, start, end)) and one.start() > start and \
            (_a_place(sentence[start:one.start()]) or tags(sentence[start:one.start()])[-1][1] == "f"):
        end = one.start()  # "分布于热带美洲的一种多年生植物": the place, not what is found there
    if (praise := sentence.rfind("的", start, end)) - start >= MIN_RUN and \
            all(flag in ("a", "m") for _, flag in tags(sentence[praise + 1:end])):
        # "路易十四的宏伟(的骑马雕像)", "某帝的第二任(皇后)": a word of praise or an ordinal for what
        # follows is not the answer
        end = praise
    if any(w in question for w in _WHERE_ASKED):
        start, end = _the_place(sentence, start, end)
    if head in _COUNTRY and (country := _places_first(sentence[start:end]) or _first_of_places(sentence[start:end])):
        end = start + country  # "哪个国家的赛车手" ↔ "一位葡萄牙F1赛车手" → 葡萄牙; "新加坡欧南区" → 新加坡
    elif head and (at := sentence.find(head, start + 1, end)) > 0 and at + len(head) < end:
        end = at + len(head)  # "哪个大学的学生" ↔ "某某大学物理系的学生" → 某某大学, "哪派的" → 某派: it ends with its kind
    if person and "谁的" in question:
        start, end = _whose(sentence, start, end)
    elif person:
        start = _named_after(sentence, _past_adverbs(sentence, start, end), end)
        end = _without_going(sentence, start, end)
    if len(head) >= MIN_RUN and sentence.endswith(head[-2:], start, end) and \
            (which := sentence.rfind("的", start, end)) > start and end - which > len(head[-2:]) + 1 and \
            not re.search(r"[与和及或、]", sentence[start:which]) and \
            any(flag.startswith("v") for _, flag in tags(sentence[start:which])):
        start = which + 1  # "自1921年已开始使用的某某公园球场" for "哪一个足球场": the name, not what was done with it
    # what the answer is said of, which the question names after its 的: "哪种语言的音译" ↔ "某语音译" → 某语
    owner = right.rpartition("的")[2] if "的" in right else ""
    if len(owner) >= MIN_RUN and sentence.endswith(owner, start, end) and end - len(owner) - start >= MIN_RUN:
        end -= len(owner) + (sentence[end - len(owner) - 1] == "的")
    strength = min(1.0, (l_len + r_len) / (len(left) + len(right) or 1))
    if _WORK.search(head) and (title := _nearest_title(sentence, start, end)):
        return Slot(*title, strength)  # "在哪部电影中" ↔ "在…上映的电影《某片》中": the work's title
    if end <= start or end - start > MAX_SPAN or _BREAK.search(sentence, start, end) or _torn(sentence, start, end):
        return None
    return Slot(start, end, strength)
