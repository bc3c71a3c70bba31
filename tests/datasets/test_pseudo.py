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
