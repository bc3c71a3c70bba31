import pytest

from embedproof.search.fusion import fuse, normalise, ranks, reciprocal_rank_fusion, top, tune_fusion, weighted_sum

DENSE = {"q": {"a": 0.9, "b": 0.8, "c": 0.1}}
SPARSE = {"q": {"b": 12.0, "d": 7.0}}


def test_rrf_values_by_hand_with_a_document_missing_from_one_run():
    fused = reciprocal_rank_fusion([DENSE, SPARSE])["q"]
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert fused["d"] == pytest.approx(1 / 62)
    assert list(top({"q": fused}, 4)["q"]) == ["b", "a", "d", "c"]


def test_rrf_weights_k_and_qdrant_convention():
    fused = reciprocal_rank_fusion([DENSE, SPARSE], k=10, weights=[2.0, 0.5])["q"]
    assert fused["b"] == pytest.approx(2 / 12 + 0.5 / 11)
    # Qdrant: 0-based ranks; its k = 61 reproduces the classic k = 60 with 1-based ranks
    classic = reciprocal_rank_fusion([DENSE, SPARSE])
    qdrant = reciprocal_rank_fusion([DENSE, SPARSE], k=61, rank_base=0)
    assert qdrant["q"] == pytest.approx(classic["q"])


def test_ties_are_ranked_by_document_id():
    assert ranks({"z": 1.0, "a": 1.0, "m": 2.0}) == {"m": 1, "a": 2, "z": 3}


def test_normalisation_of_constant_and_ordinary_scores():
    assert normalise({"a": 3.0, "b": 3.0}, "minmax") == {"a": 1.0, "b": 1.0}
    assert normalise({"a": 3.0, "b": 3.0}, "zscore") == {"a": 0.0, "b": 0.0}
    assert normalise({"a": 1.0, "b": 3.0, "c": 2.0}, "minmax") == {"a": 0.0, "b": 1.0, "c": 0.5}
    z = normalise({"a": 1.0, "b": 3.0}, "zscore")
    assert z == pytest.approx({"a": -1.0, "b": 1.0})
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalise({"a": 1.0}, "softmax")


def test_weighted_sum_by_hand():
    fused = weighted_sum([DENSE, SPARSE], weights=[0.4, 0.6])["q"]
    # dense minmax: a 1, b 0.875, c 0; sparse minmax: b 1, d 0
    assert fused == pytest.approx({"a": 0.4, "b": 0.4 * 0.875 + 0.6, "c": 0.0, "d": 0.0})


def test_fuse_dispatch_and_errors():
    assert fuse([DENSE], "rrf") == reciprocal_rank_fusion([DENSE])
    assert fuse([DENSE, SPARSE], "wsum", [1, 1], normalisation="none")["q"]["b"] == pytest.approx(12.8)
    with pytest.raises(ValueError, match="2 weights for 1 runs"):
        fuse([DENSE], "rrf", [1, 2])
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse([DENSE], "borda")


def test_tuning_finds_the_weight_that_puts_the_relevant_document_first():
    # the relevant document "d" is only found by the sparse run: the best weights lean on sparse
    def objective(run):
        return 1.0 if max(run["q"], key=run["q"].get) == "d" else 0.0

    sparse = {"q": {"d": 12.0, "b": 7.0}}
    best, value = tune_fusion(
        [DENSE, sparse], objective, method="wsum", weight_grid=(0.0, 0.5, 1.0), normalisations=("minmax",)
    )
    assert value == 1.0 and best["weights"] == [0.0, 1.0]
