from __future__ import annotations

from embedproof.judge.passage import best_window, question_terms


def test_question_terms_drop_function_words_and_repeats():
    assert question_terms("How do I add CORS to my app? CORS!") == ["add", "cors", "app"]


def test_a_short_document_is_its_own_passage():
    assert best_window("CORS in FastAPI", ["cors"], window=5) == (0, 15)


def test_the_window_with_the_most_distinct_terms_wins():
    words = ["filler"] * 20 + ["upload", "a", "file"] + ["filler"] * 20 + ["upload", "upload", "upload"] + ["x"] * 5
    text = " ".join(words)
    start, end = best_window(text, ["upload", "file"], window=4)
    # the span "filler upload a file" (both terms) beats "upload upload upload" (one term, more often)
    assert text[start:end] == "filler upload a file"
    # with one term only, the window holding it most often
    start, end = best_window(text, ["upload"], window=3)
    assert text[start:end] == "upload upload upload"


def test_the_passage_starts_and_ends_on_whitespace():
    text = "intro " * 10 + "out scifact-qdrant --backend qdrant" + " tail" * 10
    start, end = best_window(text, ["qdrant", "backend"], window=3)
    assert text[start:end] == "scifact-qdrant --backend qdrant"
