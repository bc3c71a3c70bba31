"""Progress of phases inside the model stack: silent without a reporter, reported with one; libraries kept quiet."""

from __future__ import annotations

import logging
import warnings

from embedproof.models.phases import phase, quiet_third_party, reporting, short_name


def test_a_phase_reports_only_where_a_front_end_listens():
    phase("nobody listens", 3)(3)  # a library call with no reporter: nothing to show, nothing fails
    seen = []

    def reporter(description, total):
        seen.append([description, total, 0])
        return lambda n: seen[-1].__setitem__(2, seen[-1][2] + n)

    with reporting(reporter):
        advance = phase("tiny-bert: onnx: export, fuse", 2)
        advance(1)
        advance(1)
    phase("after the block", 1)(1)
    assert seen == [["tiny-bert: onnx: export, fuse", 2, 2]]


def test_third_party_output_stays_off_the_screen(capsys, caplog):
    with quiet_third_party() as printed:
        print("Applying Smooth Quant ━━━━━━ 100%")
        logging.getLogger("nncf").warning("statistics collection")
        warnings.warn("TracerWarning: converting a tensor", stacklevel=1)
    assert "Applying Smooth Quant" in printed.getvalue()  # kept for an error message, not shown
    assert capsys.readouterr().out == "" and not caplog.records
    logging.getLogger("nncf").warning("after the block")
    assert [r.getMessage() for r in caplog.records] == ["after the block"]


def test_short_names():
    assert short_name("sentence-transformers/all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert short_name("/tmp/models/tiny-bert/") == "tiny-bert" and short_name("bm25") == "bm25"
