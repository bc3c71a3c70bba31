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


def test_sizes_read_in_the_largest_unit_that_keeps_them_at_least_one():
    from embedproof.evaluation.cost import readable_bytes

    assert readable_bytes(0) == "0 B" and readable_bytes(175) == "175 B" and readable_bytes(1023) == "1,023 B"
    assert readable_bytes(1604 * 240) == "376 KiB"  # 384,960 B: not "0.00 GiB"
    assert readable_bytes(1.5 * 2**20) == "1.50 MiB" and readable_bytes(42.25 * 2**20) == "42.2 MiB"
    assert readable_bytes(1_228_800_000_000) == "1,144 GiB"  # GiB at most: the storage budgets are in GiB
