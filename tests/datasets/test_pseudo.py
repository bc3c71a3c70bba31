import pytest

from embedproof.datasets.loading import Dataset, load_dataset
from embedproof.datasets.pseudo import inverse_cloze, split_sentences
from embedproof.errors import DatasetError
from embedproof.types import Document


def test_sentence_split():
    assert split_sentences("One two. Three four! Five? e.g. six") == ["One two.", "Three four!", "Five? e.g. six"]


def test_inverse_cloze_removes_the_query_from_its_passage():
    corpus = {
        "a": Document("a", "Cats sleep a lot every day. They also purr when happy and warm. Dogs bark.", ""),
        "b": Document("b", "Short.", "A title about rockets"),
    }
    data = inverse_cloze(Dataset("toy", "-", corpus), n_queries=5, seed=1)
    assert data.split == "pseudo" and "inverse cloze" in data.name
    assert any(w.kind == "pseudo_labels" for w in data.warnings)
    for qid, query in data.queries.items():
        ((doc_id, grade),) = data.qrels[qid].items()
        assert grade == 1
        edited = data.corpus[doc_id]
        assert query not in edited.full_text  # the answer passage no longer contains the query
        assert query in corpus[doc_id].full_text
    assert (
        data.corpus["b"].title == ""
        and data.queries[next(q for q in data.qrels if "b" in data.qrels[q])] == "A title about rockets"
    )


def test_deterministic_and_bounded():
    demo = load_dataset("demo")
    a, b = inverse_cloze(demo, 20, seed=3), inverse_cloze(demo, 20, seed=3)
    assert a.queries == b.queries and len(a.queries) == 20 and len(a.corpus) == len(demo.corpus)


def test_corpus_without_usable_passages_is_an_error():
    with pytest.raises(DatasetError, match="cannot build inverse-cloze"):
        inverse_cloze(Dataset("x", "p", {"a": Document("a", "One sentence only")}))


def _long_document(sections: int = 10, sentences: int = 12) -> Document:
    """A page of `sections` headed sections, each of `sentences` distinct ten-word sentences."""
    blocks, headings = [], []
    for s in range(sections):
        headings.append(f"Section topic {s} explained")
        blocks.append(headings[-1])
        blocks.append(
            " ".join(f"Sentence {s}-{i} talks about topic {s} in words number {i}." for i in range(sentences))
        )
    return Document("long", "\n\n".join(blocks), "A long page", tuple(headings))


def test_long_documents_give_queries_from_across_their_length_and_headings():
    long = _long_document()  # 10 × (4 + 12 × 10) words ≈ 1,240 words: 6 queries, one per 200 words
    short = Document("short", "A short page has two sentences only. It gives one query at most.")
    data = inverse_cloze(Dataset("toy", "-", {"long": long, "short": short}), n_queries=50, seed=0)
    from_long = [q for q, judged in data.qrels.items() if "long" in judged]
    assert len(from_long) == 6 and len(data.queries) == 7
    assert all(data.qrels[q] == {"long": 1} for q in from_long)  # the whole document is the relevant one
    # spread: the sections the sentence queries come from cover the page, not only its start
    sections = {int(data.queries[q].split()[1].split("-")[0]) for q in from_long if data.queries[q].startswith("Sent")}
    sections |= {int(data.queries[q].split()[2]) for q in from_long if data.queries[q].startswith("Section")}
    assert max(sections) >= 7 and min(sections) <= 2
    assert any(data.queries[q] in long.headings or data.queries[q] == long.title for q in from_long)
    edited = data.corpus["long"]
    for q in from_long:  # every query is taken out of the document it points to
        assert data.queries[q] not in edited.full_text.split("\n\n") and data.queries[q] not in edited.headings


def test_headings_shared_by_documents_are_never_queries_and_a_sample_spreads():
    from embedproof.datasets.pseudo import query_sample

    corpus = {
        f"d{i}": Document(
            f"d{i}", f"Recap\n\nPage {i} says something long enough here. And then page {i} says more.", "", ("Recap",)
        )
        for i in range(20)
    }
    data = inverse_cloze(Dataset("toy", "-", corpus), n_queries=20, seed=0, heading_share=1.0)
    assert len(data.queries) == 20 and "Recap" not in data.queries.values()
    sample = query_sample(data, 4)
    assert [qid for qid, _, _ in sample] == ["ict-1", "ict-6", "ict-11", "ict-16"]
    assert all(text == data.queries[qid] and relevant == list(data.qrels[qid]) for qid, text, relevant in sample)
