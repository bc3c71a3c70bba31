"""An optional model judge: an OpenAI-compatible chat model grades each (question, passage) pair 0-3.

The prompt is UMBRELA's (Upadhyay et al. 2024, "UMBRELA: UMbrela is the (Open-Source Reproduction of the) Bing
RELevance Assessor", arXiv:2406.06519), the graded 0-3 prompt of Thomas et al. (2023) as UMBRELA publishes it.
The answer's last `##final score: N` (or its last digit 0-3) is the grade. Requests go through the remote
encoders' HTTP client (`models/remote.py`: retries, back-off, key from the environment, scrubbed errors), pointed at
`{base}/chat/completions` instead of `/embeddings`.

To compare with a person's 0/1/2, the model's grade is mapped as UMBRELA's levels read: 0 and 1 ("nothing to do
with", "related but does not answer") → 0, 2 ("has some answer") → 1, 3 ("dedicated to the query, exact answer")
→ 2. Kappa is computed on that common scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.models.remote_providers import OpenAIProvider, make_provider, split_remote_name

__all__ = ["UMBRELA_PROMPT", "ChatProvider", "ModelJudge", "parse_grade", "to_person_scale"]

UMBRELA_PROMPT = """Given a query and a passage, you must provide a score on an integer scale of 0 to 3 with the \
following meanings:
0 = represent that the passage has nothing to do with the query,
1 = represents that the passage seems related to the query but does not answer it,
2 = represents that the passage has some answer for the query, but the answer may be a bit unclear, or hidden \
amongst extraneous information and
3 = represents that the passage is dedicated to the query and contains the exact answer.

Important Instruction: Assign category 1 if the passage is somewhat related to the topic but not completely, \
category 2 if passage presents something very important related to the entire topic but also has some extra \
information and category 3 if the passage only and entirely refers to the topic. If none of the above satisfies \
give it category 0.

Query: {query}
Passage: {passage}

Split this problem into steps:
Consider the underlying intent of the search.
Measure how well the content matches a likely intent of the query (M).
Measure how trustworthy the passage is (T).
Consider the aspects above and the relative importance of each, and decide on a final score (O). Final score must \
be an integer value only.
Do not provide any code in result. Provide each score in the format of: ##final score: score without providing any \
reasoning."""

_FINAL = re.compile(r"final\s*score\s*:?\s*([0-3])", re.IGNORECASE)


@dataclass
class ChatProvider(OpenAIProvider):
    """An OpenAI-compatible provider whose endpoint is chat completions."""

    @property
    def url(self) -> str:
        return self.base_url + "/chat/completions"


def parse_grade(answer: str) -> int | None:
    """The grade in a model's answer: the last `final score: N`, or an answer that is only a digit 0-3; else None
    (a digit inside reasoning, such as the prompt's M and T scores, is not the grade)."""
    found = _FINAL.findall(answer)
    if found:
        return int(found[-1])
    bare = answer.strip().strip(".")
    return int(bare) if bare in ("0", "1", "2", "3") else None


def to_person_scale(grade: int) -> int:
    """A 0-3 model grade on the person's 0/1/2 scale (see the module docstring)."""
    return {0: 0, 1: 0, 2: 1, 3: 2}[grade]


class ModelJudge:
    """Grades pairs with a chat model named like a remote encoder: `openai-compatible:MODEL@http://HOST:PORT/v1`
    (key from $OPENAI_COMPATIBLE_API_KEY, if set) or `openai:MODEL` (key from $OPENAI_API_KEY)."""

    def __init__(self, name: str, transport=None, max_retries: int = 3):
        from embedproof.models.remote import HttpClient, RetryPolicy

        remote = split_remote_name(name)
        if remote is None or remote.scheme not in ("openai", "openai-compatible"):
            raise InvalidInputError(
                f"--judge-model: expected openai-compatible:MODEL@http://HOST:PORT/v1 or openai:MODEL, got {name!r}"
            )
        base = make_provider(remote.scheme, remote.model, remote.base_url)
        provider = ChatProvider(**{f.name: getattr(base, f.name) for f in fields(base)})
        self.name = name
        self.model = remote.model
        self.client = HttpClient(provider, RetryPolicy(max_retries=max_retries), transport=transport)

    def grade(self, question: str, passage: str) -> tuple[int, str]:
        """(grade 0-3, the model's answer); an answer without a grade is an error naming the endpoint."""
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": UMBRELA_PROMPT.format(query=question, passage=passage)}],
            "temperature": 0,
        }
        answer = self.client.post(body)
        try:
            text = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise EmbedproofError(
                f"{self.client.provider.url}: not a chat completion (no choices[0].message.content)"
            ) from None
        grade = parse_grade(str(text))
        if grade is None:
            raise EmbedproofError(f"{self.client.provider.url}: the model's answer holds no grade 0-3: {text[:200]!r}")
        return grade, str(text)

    def close(self) -> None:
        self.client.close()
