"""Judging: turn a user's own questions into relevance judgments that `bench --dataset` reads.

The pool (`pool`: every set-up's top k, de-duplicated, shuffled, blind), the append-only judgment log (`log`), the
BEIR folder it keeps written (`beir`), the passage shown (`passage`), how much to judge (`power`), the optional
model judge (`model_judge`) and its agreement with the person (`kappa`), one folder's state (`session`) and the
page over HTTP (`app`, `page.html`). Layer 5: it runs recipes (search) and uses the bench's statistics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "JudgeSession": "embedproof.judge.session",
    "Pooler": "embedproof.judge.pool",
    "SetUp": "embedproof.judge.pool",
    "JudgmentLog": "embedproof.judge.log",
    "cohen_kappa": "embedproof.judge.kappa",
    "how_much_to_judge": "embedproof.judge.power",
    "read_questions": "embedproof.judge.questions",
    "ModelJudge": "embedproof.judge.model_judge",
}

__all__ = [
    "JudgeSession",
    "JudgmentLog",
    "ModelJudge",
    "Pooler",
    "SetUp",
    "cohen_kappa",
    "how_much_to_judge",
    "read_questions",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.judge.kappa import cohen_kappa
    from embedproof.judge.log import JudgmentLog
    from embedproof.judge.model_judge import ModelJudge
    from embedproof.judge.pool import Pooler, SetUp
    from embedproof.judge.power import how_much_to_judge
    from embedproof.judge.questions import read_questions
    from embedproof.judge.session import JudgeSession
