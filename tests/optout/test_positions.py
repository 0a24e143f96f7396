"""Which rows of a run file an opt-out list covers (``positions.covered_mask``), whatever the layout of its
``repo`` column."""

from __future__ import annotations

import pyarrow as pa

from stackcurate.optout.apply import OptOutList
from stackcurate.optout.positions import covered_mask


def test_covered_rows_are_found_whatever_the_columns_layout() -> None:
    opt_out = OptOutList(owners=frozenset({"alice"}), repos=frozenset({"bob/lib"}))
    repos = ["Alice/tools", "bob/lib", "bob/other", None, "carol/x", "ALICE/y", "bob/LIB", "", "alicex/z"]
    expected = [True, True, False, False, False, True, True, False, False]
    plain = pa.table({"repo": pa.array(repos, pa.string())})
    chunked = pa.table({"repo": pa.chunked_array([repos[:4], repos[4:]], pa.string())})
    dictionary = pa.table({"repo": pa.array(repos, pa.string()).dictionary_encode()})
    large = pa.table({"repo": pa.array(repos, pa.large_string())})
    for table in (plain, chunked, dictionary, large):
        assert covered_mask(table, opt_out).tolist() == expected
    assert covered_mask(pa.table({"repo": pa.array([], pa.string())}), opt_out).tolist() == []
