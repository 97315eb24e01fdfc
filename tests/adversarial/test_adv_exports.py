"""Exports never fail on stored text and never write formula-looking text as a live formula.

Stored text may hold what input now refuses (an old database, a bulk path): the xlsx writer and the
quota workbook replace what openpyxl cannot hold; the CSV quota report guards ``= + - @`` like the xlsx.
"""

from __future__ import annotations

import io
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from app.core.xlsx_export import write_csv, write_xlsx
from app.staffing.quota_service import write_quota_xlsx
from support import stored_unit_name

MEMORY = 64 * 1024 * 1024


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=50))
def test_any_stored_text_exports_to_xlsx_and_reads_back_as_text(text):
    data = write_xlsx([("名称", "name")], [{"name": text}])
    value = next(load_workbook(io.BytesIO(data)).active.iter_rows(min_row=2, values_only=True))[0]
    if text:
        assert isinstance(value, str) and "\x00" not in value


def test_quota_workbook_takes_control_characters():
    data = write_quota_xlsx([("001", "村\x00名", "=cmd|'/C calc'!A0", 1, 1, 0, 0, 1)])
    row = next(load_workbook(io.BytesIO(data)).active.iter_rows(min_row=2, values_only=True))
    assert row[1] == "村\ufffd名" and row[2] == "=cmd|'/C calc'!A0"


def test_csv_guards_formula_leads():
    text = write_csv([("名称", "name")], [{"name": v} for v in ("=1+1", "+1", "-x", "@a", "\tb")]).decode("utf-8-sig")
    assert all(f"'{lead}" in text for lead in ("=1+1", "+1", "-x", "@a"))


def test_a_long_list_exports_in_bounded_memory():
    tracemalloc.start()
    try:
        write_xlsx([("名称", "name")], ({"name": f"名\x01{i}"} for i in range(20_000)))
        assert tracemalloc.get_traced_memory()[1] < MEMORY
    finally:
        tracemalloc.stop()


def test_the_csv_quota_report_writes_formula_looking_names_as_text(app, demo):
    from app.commands.staffing import report_command

    with stored_unit_name(app, demo["tenant_ids"]["shishi"], '=HYPERLINK("http://x")'):
        result = app.test_cli_runner().invoke(report_command, ["--tenant", "shishi", "--period", "2025"])
        assert result.exit_code == 0, result.output
        assert "'=HYPERLINK" in result.output and ',=HYPERLINK' not in result.output
