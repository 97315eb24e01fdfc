"""``countydesk forms import``: a form's records from an xlsx/csv file, checked like on the import screen.

Runs in the county's scope as its administrator (no capture scope), through the same import
handler and engine as the screen's background job: every row checked, problems printed in
Chinese (row, column, value, why), nothing written on any problem or with ``--dry-run``.
Exit status 0 when the file is clean (and written, without ``--dry-run``), 1 otherwise.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.core.errors import CountyDeskError

SHOWN_PROBLEMS = 200


@click.group("forms")
def forms_group() -> None:
    """表单：导入记录"""


def _tenant_id(slug: str) -> int:
    from app.core.models import Tenant
    from app.extensions import db

    tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise click.ClickException(f"县（租户）「{slug}」不存在")
    return int(tenant_id)


@forms_group.command("import")
@click.option("--tenant", "slug", required=True, help="县（租户）标识")
@click.option("--dry-run", is_flag=True, help="只检查、不写入")
@click.option("--encoding", type=click.Choice(["utf-8", "gbk"], case_sensitive=False), default=None,
              help="CSV 文件的编码（默认自动识别 UTF-8 或常用汉字的 GBK；含生僻字的 GBK 文件请指定 gbk）")
@click.argument("form_code")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def import_command(slug: str, dry_run: bool, encoding: str | None, form_code: str, file: Path) -> None:
    """从 xlsx/csv 文件导入表单 FORM_CODE 的记录（全部通过才写入；重复导入同一文件不会改变数据）。"""
    from app.core.encodings import decode_text
    from app.core.tenancy import tenant_context
    from app.documents.uploads import detect_kind, read_limited
    from app.extensions import db
    from app.forms.io_import import import_file

    tenant_id = _tenant_id(slug)
    if not file.is_file():
        raise click.ClickException(f"文件「{file}」不存在")
    try:
        with file.open("rb") as stream:
            data = read_limited(stream)
        kind = detect_kind(data, file.name, encoding)
        if file.suffix.lower() != f".{kind}":
            raise click.ClickException(f"文件「{file.name}」的内容是 {kind}，请把扩展名改为 .{kind}")
        with tenant_context(tenant_id), tempfile.TemporaryDirectory() as tmp:
            if kind == "csv" and encoding:  # read as stated, as the upload screen stores it: UTF-8
                file = Path(tmp) / file.name
                file.write_bytes(decode_text(data, encoding).encode("utf-8"))
            result = import_file(form_code, file, dry_run=dry_run)
    except CountyDeskError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(result.message)
    if result.problems:
        click.echo("行\t列\t值\t原因")
        for p in result.problems[:SHOWN_PROBLEMS]:
            click.echo(f"{p.row or ''}\t{p.column or ''}\t{p.value or ''}\t{p.why}")
        if result.problem_count > min(len(result.problems), SHOWN_PROBLEMS):
            click.echo(f"……还有 {result.problem_count - min(len(result.problems), SHOWN_PROBLEMS)} 条问题未列出")
        sys.exit(1)
