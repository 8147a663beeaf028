"""Answer -> claims: sentences (split by pipeline.text), checkability, and splitting sentences into standalone facts.

Pure functions over strings (stdlib `re` only), so they are cheap enough to run on every answer.
Offsets always index the original answer, so a verdict can be painted back onto the exact text.
"""

from __future__ import annotations

import re

from pipeline.schema import Claim
from pipeline.text import CJK_CHARS, CJK_RE, split_sentences

# --------------------------------------------------------------------------------------------
# Checkability
# --------------------------------------------------------------------------------------------

_I = re.IGNORECASE
# Leading pleasantries/connectives that carry no fact; the rest of the sentence is judged on its own.
_LEAD_STRIP = [
    re.compile(
        r"^(?:great question|good question|excellent question|thank you(?: for (?:your|the) question)?|sure|"
        r"certainly|of course|absolutely|yes|no(?=\s*,)|okay|ok|great|good|no problem|alright|all right|well|"
        r"thanks|hi|hello|hey|greetings|good (?:morning|afternoon|evening))\b[\s,!.:;—–-]*",
        _I,
    ),
    re.compile(
        r"^(?:based on|according to|per|from|as stated in|as per|in|reviewing|looking at)\s+(?:the|your|this|these)\s+"
        r"(?:provided\s+|attached\s+|uploaded\s+|shared\s+|relevant\s+|available\s+)?"
        r"(?:drug\s+|product\s+)?(?:label(?:ing)?|documents?|documentation|agreement|contract|information|"
        r"context|text|prescribing information|package insert|excerpts?|sources?|materials?|files?|data)"
        r"\b[^,:]{0,40}[,:]\s*",
        _I,
    ),
    re.compile(
        r"^(?:in summary|to summarize|in short|in conclusion|to sum up|in brief|briefly|overall|first(?:ly)?|"
        r"second(?:ly)?|third(?:ly)?|finally|additionally|also|importantly|note that|please note(?: that)?|"
        r"keep in mind(?: that)?|remember(?: that)?|to answer your question)\b[\s,:]*",
        _I,
    ),
    re.compile(r"^(?:您好|你好|嗨|哈喽|谢谢|感谢|当然|好的|没问题|总之|总结|总的来说)[\s，,！!。：:]*"),
    re.compile(
        r"^(?:根据|按照|依据)(?:您提供的|所提供的|提供的)?(?:药品)?(?:标签|说明书|协议|合同|文件|资料|信息)[^，,：:]{0,20}[，,：:]\s*"
    ),
]
# Patterns that, at the start of what remains, mark the sentence as conversational or meta.
_META_START = re.compile(
    r"^(?:here(?:'s|’s| is| are)|i (?:would |['’]d )?(?:recommend|suggest|advise)|"
    r"we (?:would )?(?:recommend|suggest)|always (?:confirm|check|consult|talk|speak|ask|seek|follow|verify|discuss)|"
    r"below (?:is|are)|the following (?:is|are)|let me|let us|let's|"
    r"feel free|(?:please )?don['’]t hesitate|(?:please )?do not hesitate|i hope|hope (?:this|that|it)|"
    r"i['’]d be happy|i would be happy|i['’]m happy|i am happy|happy to help|glad to help|i can help|"
    r"i can also|i['’]ll|i will|if you (?:have|need|want|would like)|should you (?:have|need)|"
    r"is there anything|good luck|take care|best regards|you['’]re welcome|you are welcome|"
    r"i (?:found|could not find|couldn['’]t find|did not find|didn['’]t find|don['’]t have|do not have|"
    r"cannot find|can['’]t find|was unable|am unable|searched|looked|reviewed|checked)|"
    r"(?:please|kindly) (?:consult|contact|ask|talk|speak|check with|reach out|refer|seek|see|review|read|"
    r"let me|feel free|confirm|verify|call))",
    _I,
)
# "Consult your doctor." is generic advice; "Ask a doctor before use if you take X." restates a label warning.
_ADVICE = re.compile(
    r"^(?:you (?:should|may want to|might want to) )?(?:always )?(?:consult|talk to|speak (?:to|with)|ask|"
    r"check with) (?:with )?(?:your|a|an) (?:doctor|physician|healthcare|health care|lawyer|attorney|"
    r"pharmacist|legal|medical|qualified)",
    _I,
)
_CONDITIONAL = re.compile(r"\b(?:if|before use|when|unless|while)\b", _I)
_DISCLAIMER = re.compile(
    r"(?:(?:i am|i['’]m) not (?:a|an|your) (?:doctor|lawyer|attorney|physician|pharmacist|medical|legal)|"
    r"(?:is|are) not (?:medical|legal|professional) advice|(?:does not|doesn['’]t) constitute (?:medical|legal)|"
    r"for (?:general )?informational purposes|as an ai\b|i am an ai\b|language model)",
    _I,
)
_META_ZH = re.compile(
    r"(?:希望(?:这|以上|这些|此)?(?:信息|回答|内容)?(?:对您|对你)?有(?:所)?帮助|如(?:有|果您?有|果你有|您有)"
    r"(?:其他|任何|更多|其它)?(?:问题|疑问)|请(?:随时)?(?:告诉我|联系|咨询|询问)|欢迎(?:随时)?(?:提问|咨询)|"
    r"^(?:以下|下面)(?:是|为)|^(?:我(?:没有|未能|无法)找到)|我不是(?:医生|律师)|不构成(?:医疗|法律)(?:建议|意见))"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d")
_ALNUM = re.compile(f"[A-Za-z0-9{CJK_CHARS}]")
_ZH_QUESTION_END = re.compile(r"[吗呢][？?。]?$")
_THANKS_FOR = re.compile(r"(?:thanks|thank you)\s+for\b", _I)
_VERBISH = re.compile(
    r"\b(?:is|are|was|were|be|been|has|have|had|shall|must|may|might|can|cannot|could|will|would|should|"
    r"does|do|did)\b",
    _I,
)


def _strip_leads(sentence: str) -> str:
    s = sentence.strip()
    changed = True
    while changed and s:
        changed = False
        for pat in _LEAD_STRIP:
            m = pat.match(s)
            if m and m.end() > 0:
                s = s[m.end() :].lstrip()
                changed = True
    return s


def is_checkable(sentence: str) -> bool:
    """Whether the sentence asserts something that the documents could support or contradict."""
    s = sentence.strip().strip("*_`").strip()
    if not s or not _ALNUM.search(s):
        return False
    if s.endswith(("?", "？")) or _ZH_QUESTION_END.search(s):
        return False
    if _META_ZH.search(s):
        return False
    if _DISCLAIMER.search(s):
        # "I'm not a lawyer, but the term is 5 years." keeps the fact after the disclaimer.
        others = [p for p in re.split(r",\s*(?:but|however|though)\s+|;\s*", s) if not _DISCLAIMER.search(p)]
        return any(is_checkable(p) for p in others)
    if _THANKS_FOR.match(s):  # checked before stripping removes the "thanks"
        return False
    rest = _strip_leads(s)
    if _ADVICE.match(rest) and not _CONDITIONAL.search(rest):
        return False
    if _META_START.match(rest):
        # "Here is what the label says: the dose is 40 mg." still carries a fact after the colon.
        head, sep, tail = rest.partition(":")
        if not sep or len(_WORD.findall(tail)) < 3:
            return False
        rest = _strip_leads(tail)
        if _META_START.match(rest):
            return False
    if rest.endswith((":", "：")):
        return False  # a lead-in to a list; the list items are the claims
    if not rest:
        return False
    n_cjk = len(CJK_RE.findall(rest))
    words = _WORD.findall(rest)
    if n_cjk >= 4:
        return True
    if any(ch.isdigit() for ch in rest):
        return True
    if len(words) < 2:
        return False
    # A heading ("Dosage and Administration") has no verb and no final punctuation.
    if not rest.endswith((".", "!", "。", "！")) and not _VERBISH.search(rest) and len(words) <= 6:
        caps = [w for w in words if len(w) > 3]
        if all(w[0].isupper() for w in caps):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Splitting a sentence into standalone facts
# --------------------------------------------------------------------------------------------

# Finite verbs that can head a predicate. Kept to auxiliaries plus common third-person forms so
# that nouns ("increase", "pay") are never mistaken for verbs.
_AUX = frozenset(
    "is are was were be been has have had shall must may might can cannot could will would should does do "
    "did isn't aren't wasn't weren't doesn't don't didn't won't can't shouldn't mustn't hasn't haven't "
    "needs remains remain becomes become".split()
)
_V3 = frozenset(
    "requires includes contains causes reduces increases decreases provides covers applies lasts expires "
    "renews terminates pays grants allows permits prohibits states says specifies lists recommends treats "
    "prevents affects inhibits blocks binds occurs begins starts ends continues costs owns retains receives "
    "limits excludes governs survives takes gives makes means refers shows appears works acts helps lowers "
    "raises improves involves depends exceeds equals consists comprises indicates suggests warns advises "
    "describes defines sets establishes entitles obligates authorizes restricts agrees acknowledges warrants "
    "represents indemnifies licenses assigns delivers supplies sells purchases buys shares waives reserves "
    "bears carries controls operates runs lowers weakens suppresses targets neutralizes".split()
)
_VERBS = _AUX | _V3
# Words that cannot open a simple subject: prepositions, subordinators, conjunctions.
_NOT_SUBJECT_START = frozenset(
    "if when whenever unless although though because since while whereas after before until upon under "
    "in on at for with without by to from of during within as than and or but nor so yet also then "
    "where which who whom whose that what how".split()
)
_RELATIVE = frozenset(
    "who which that whose whom if when where unless because while although since whether".split()
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*%?|\S")
_CONNECTOR = re.compile(r"\s*;\s*(?:and\s+|but\s+)?|,\s+(?:and|but|while|whereas|yet)\s+|\s+whereas\s+", _I)
_AND_AUX = re.compile(
    r"\s+and\s+(?:also\s+)?(?=(?:is|are|was|were|has|have|had|shall|must|may|might|can|cannot|could|will|"
    r"would|should|does|do|did|need not|needs)\b)",
    _I,
)
_SUBORDINATE_START = re.compile(
    r"^\W*(?:if|when|whenever|unless|although|though|because|since|while|after|before|until|once|"
    r"in the event|provided that|where)\b",
    _I,
)


def _words(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text) if t[0].isalnum()]


def _first_verb(words: list[str]) -> int:
    for i, w in enumerate(words):
        if w.lower() in _VERBS:
            return i
    return -1


def _subject(clause: str) -> str | None:
    """The simple subject (words before the first verb) of a clause, or None if it has none."""
    toks = [m for m in _TOKEN.finditer(clause) if m.group(0)[0].isalnum()]
    i = _first_verb([m.group(0) for m in toks])
    if i < 1 or i > 6 or toks[0].group(0).lower() in _NOT_SUBJECT_START:
        return None
    head = clause[: toks[i].start()].strip()
    if not head or any(ch in head for ch in ",()[]:;") or _RELATIVE & {m.group(0).lower() for m in toks[:i]}:
        return None
    return head


def _is_clause(text: str) -> bool:
    return _subject(text) is not None


def _starts_with_verb(text: str) -> bool:
    words = _words(text)
    return bool(words) and words[0].lower() in _VERBS


def _top_level_matches(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Matches of `pattern` that are outside brackets and quotes."""
    depth = 0
    inside = [False] * (len(text) + 1)
    quote = False
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in '"“”':
            quote = not quote if ch == '"' else ch == "“"
        inside[i] = depth > 0 or quote
    return [m for m in pattern.finditer(text) if not inside[m.start()]]


def _finish(part: str, final: str) -> str:
    part = part.strip().rstrip(",;:—– ").strip()
    if not part:
        return part
    return part if part[-1] in ".!?。！？" else part + final


def _split_on_connectors(body: str) -> list[str]:
    """Split at '; ', ', and', ', but', ' whereas' where both sides are full predicates."""
    parts: list[str] = []
    rest = body
    while True:
        found = None
        for m in _top_level_matches(_CONNECTOR, rest):
            left, right = rest[: m.start()], rest[m.end() :]
            subj = _subject(left)
            if subj is None:
                continue
            if _is_clause(right):
                found = (left, right)
                break
            if _starts_with_verb(right) and not _RELATIVE & {w.lower() for w in _words(left)}:
                # ", and is stored ..." shares the subject of the left clause.
                found = (left, f"{subj} {right.strip()}")
                break
        if not found:
            parts.append(rest)
            return parts
        parts.append(found[0])
        rest = found[1]


def _split_shared_subject(clause: str) -> list[str]:
    """'X is given subcutaneously and is stored cold' -> ['X is given subcutaneously', 'X is stored cold']."""
    subj = _subject(clause)
    if subj is None:
        return [clause]
    matches = _top_level_matches(_AND_AUX, clause)
    if len(matches) != 1:
        return [clause]  # several "and"s: too easy to get the attachment wrong
    m = matches[0]
    left, right = clause[: m.start()], clause[m.end() :]
    left_words = _words(left)
    pred_words = left_words[len(_words(subj)) :]
    if len(pred_words) < 2 or _RELATIVE & {w.lower() for w in pred_words}:
        return [clause]
    if left_words[-1].lower() in _NOT_SUBJECT_START or left_words[-1].lower() in {"a", "an", "the"}:
        return [clause]
    return [left, f"{subj} {right.strip()}"]


def split_facts(sentence: str) -> list[str]:
    """Split a sentence that joins independent facts into standalone fact strings (conservatively)."""
    text = sentence.strip()
    if not text or CJK_RE.search(text) or _SUBORDINATE_START.match(text):
        return [sentence]
    final = text[-1] if text[-1] in ".!?" else "."
    body = text[:-1] if text[-1] in ".!?" else text
    pieces: list[str] = []
    for clause in _split_on_connectors(body):
        pieces.extend(_split_shared_subject(clause))
    pieces = [p for p in pieces if p.strip()]
    if len(pieces) <= 1:
        return [sentence]
    return [_finish(p, ".") if i < len(pieces) - 1 else _finish(p, final) for i, p in enumerate(pieces)]


# --------------------------------------------------------------------------------------------


def extract_claims(answer: str) -> list[Claim]:
    """One Claim per sentence of the answer, with offsets, checkability and independent facts."""
    claims = []
    for start, end in split_sentences(answer):
        text = answer[start:end]
        checkable = is_checkable(text)
        claims.append(
            Claim(
                text=text,
                start=start,
                end=end,
                checkable=checkable,
                parts=split_facts(text) if checkable else [],
            )
        )
    return claims
