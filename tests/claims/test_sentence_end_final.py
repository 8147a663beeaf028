"""When a sentence of a growing text (a streamed answer) can no longer move: pipeline.text.sentence_end_final."""

from __future__ import annotations

import random

import pytest
from helpers import random_answer

from pipeline.text import sentence_end_final, split_sentences

CHARS = list("aAbTz .!?…。！;；\n\t,()-–/\"'”」)]#>*•+1234567890一、") + ["  ", "\n\n"]


def continuation(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 8)))
    return random_answer(rng)


def final_sentences(text: str) -> list[tuple[int, int]]:
    """The leading sentences of `text` whose ends are final, as a stream hands them out."""
    out = []
    for span in split_sentences(text):
        if not sentence_end_final(text, span[1]):
            break
        out.append(span)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_a_final_end_stays_whatever_follows(seed):
    """Cut random answers after every character: the sentences called final there are those of the
    whole answer, and of the prefix followed by random text."""
    rng = random.Random(seed)
    finals = 0
    for _ in range(60):
        answer = random_answer(rng, pieces=30)
        whole = split_sentences(answer)
        for cut in range(len(answer) + 1):
            prefix = answer[:cut]
            final = final_sentences(prefix)
            finals += len(final)
            assert whole[: len(final)] == final, (prefix, answer[cut:])
            more = continuation(rng)
            assert split_sentences(prefix + more)[: len(final)] == final, (prefix, more)
    assert finals > 2000  # the rule decides often, not only at the end


@pytest.mark.parametrize(
    ("text", "final"),
    [
        ("Acme makes pumps. T", True),  # a capital after a period that ends no abbreviation
        ("Acme makes pumps. 5", True),
        ("Acme makes pumps. ", False),  # the next character is not known yet
        ("Acme makes pumps.", False),
        ('Acme makes pumps."', False),  # the closing run may go on
        ("Is it safe? ", True),
        ("Is it safe?", False),  # "?!" or "?)" may follow
        ("It is safe! 5", True),
        ("Acme makes pumps.\n\n", True),  # a paragraph break
        ("Acme makes pumps.\nT", True),  # a line that cannot continue this one
        ("Acme makes pumps.\n", False),
        ("合同期限为两年。付", True),
        ("Acme Inc. The", False),  # "The" or "Thermo"?
        ("Acme Inc. The ", True),
        ("Acme Inc. Thermo makes pumps. The", True),  # the first end: the abbreviation's word is whole
        ("Call Dr. Smith at noon. A", True),
        ("Details:\n1. Th", True),  # a list item starts a new block
        ("Details,\n- x", True),
        ("weekly.T", False),  # "weekly.The" splits, "weekly.TB" does not
        ("weekly.Th", True),
    ],
)
def test_when_a_sentence_end_is_final(text, final):
    first = split_sentences(text)[0]
    assert sentence_end_final(text, first[1]) is final
