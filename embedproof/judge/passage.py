"""The passage a judge reads first: the window of a document that best matches the question's terms.

A page shows one document at a time with its best passage in view, so a long document is judged on the part a
retriever would have matched rather than its first lines. Unchunked documents are scored by window: the
`window` words with the most question-term occurrences (distinct terms first, then counts; the earliest wins
ties). A document that a chunked set-up ranked shows the chunk that scored instead (judge/pool.py).
"""

from __future__ import annotations

import re

__all__ = ["WORD", "STOPWORDS", "question_terms", "best_window"]

WORD = re.compile(r"\w+", re.UNICODE)
# Function words highlighted everywhere say nothing about relevance; a short English list is enough to mute them.
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its me my of on or that the this to "
    "was what when where which who why will with you your".split()
)


def question_terms(question: str) -> list[str]:
    """The question's content words, lower-cased, each once, in order."""
    words = [w.lower() for w in WORD.findall(question)]
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS))


def best_window(text: str, terms: list[str], window: int = 80) -> tuple[int, int]:
    """(start, end) character offsets of the best-matching `window`-word span of `text` (all of it when shorter)."""
    spans = [(m.start(), m.end(), m.group().lower()) for m in WORD.finditer(text)]
    if len(spans) <= window:
        return 0, len(text)
    wanted = set(terms)
    best, best_key = 0, (-1, -1)
    counts: dict[str, int] = {}
    hits = 0
    for i, (_, _, word) in enumerate(spans):
        if word in wanted:
            counts[word] = counts.get(word, 0) + 1
            hits += 1
        if i >= window:
            out = spans[i - window][2]
            if out in wanted:
                counts[out] -= 1
                hits -= 1
                if not counts[out]:
                    del counts[out]
        if i >= window - 1:
            key = (len(counts), hits)
            if key > best_key:
                best, best_key = i - window + 1, key
    start = spans[best][0]
    end = spans[min(best + window, len(spans)) - 1][1]
    # widen to whitespace, so the passage never starts or ends inside `scifact-qdrant` or `docs/a.md`
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end
