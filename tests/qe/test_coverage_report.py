"""Coverage reports in the three formats a CI produces read to the same lines; a report that is
none of them is a coded input error."""

from __future__ import annotations

import json

import pytest

from fleet.errors import InvalidTask
from fleet.qe.coverage_report import find_file, ranges, read_report

COVERAGE_PY = {"meta": {"version": "7.6.1"}, "files": {"src/shop/cart.py": {
    "executed_lines": [1, 2, 3, 5], "missing_lines": [6, 7, 9],
    "missing_branches": [[5, 9]], "excluded_lines": []}}}
COBERTURA = """<?xml version="1.0" ?>
<coverage line-rate="0.57"><packages><package name="shop"><classes>
<class name="cart.py" filename="src/shop/cart.py"><lines>
<line number="1" hits="1"/><line number="2" hits="1"/><line number="3" hits="1"/>
<line number="5" hits="1" branch="true" condition-coverage="50% (1/2)"/>
<line number="6" hits="0"/><line number="7" hits="0"/><line number="9" hits="0"/>
</lines></class></classes></package></packages></coverage>"""
LCOV = """TN:
SF:src/shop/cart.py
DA:1,1
DA:2,1
DA:3,1
DA:5,4
DA:6,0
DA:7,0
DA:9,0
BRDA:5,0,0,4
BRDA:5,0,1,-
end_of_record
"""


@pytest.mark.parametrize("report", [COVERAGE_PY, json.dumps(COVERAGE_PY), COBERTURA, LCOV],
                         ids=["coverage.py", "coverage.py text", "cobertura", "lcov"])
def test_every_format_reads_to_the_same_executed_missing_and_partial_lines(report: object) -> None:
    cart = find_file(read_report(report), "shop/cart.py")
    assert cart is not None
    assert (cart.executed, cart.missing, cart.partial) == ({1, 2, 3, 5}, {6, 7, 9}, {5})
    assert round(cart.percent, 1) == 57.1


def test_files_match_on_whole_trailing_path_components() -> None:
    report = read_report(COVERAGE_PY)
    assert find_file(report, "/home/ci/repo/src/shop/cart.py") is not None
    assert find_file(report, "cart.py") is not None
    assert find_file(report, "art.py") is None


@pytest.mark.parametrize("report", ["not a report", "<coverage><unclosed>", "{oops", {"x": 1},
                                    '<!DOCTYPE x [<!ENTITY a "aaaa">]><coverage>&a;</coverage>'])
def test_anything_else_is_a_task_error_that_names_the_formats(report: object) -> None:
    with pytest.raises(InvalidTask) as info:
        read_report(report)
    assert info.value.code == "TASK_001"


def test_lines_print_as_ranges() -> None:
    assert ranges({3, 4, 5, 9, 11, 12}) == "3-5, 9, 11-12"
