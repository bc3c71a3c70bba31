import pytest

from embedproof.evaluation.cost import GIB, cost_row, parse_count, projection_table


def test_parse_counts():
    assert [parse_count(x) for x in ("100M", "1B", "250k", "1.5m", "1e6", "42", 7)] == [
        100_000_000,
        1_000_000_000,
        250_000,
        1_500_000,
        1_000_000,
        42,
        7,
    ]
    with pytest.raises(ValueError, match="not a vector count"):
        parse_count("lots")


def test_the_lessons_question():
    # 3,072 float32 dimensions = 12 KB per vector; 100M of them at $3.8 per GiB-month
    row = cost_row(3072, "float32", 100_000_000)
    assert row["bytes_per_vector"] == 12288
    assert row["usd_per_month"] == pytest.approx(100_000_000 * 12288 / GIB * 3.8)
    assert round(row["usd_per_month"], 2) == 4348.75
    assert cost_row(3072, "int8", 100_000_000)["usd_per_month"] == pytest.approx(row["usd_per_month"] / 4)


def test_projection_covers_every_precision_and_size():
    rows = projection_table(384)
    assert len(rows) == 12 and {r["vectors"] for r in rows} == {1_000_000, 100_000_000, 1_000_000_000}
