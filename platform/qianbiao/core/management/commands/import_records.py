"""python manage.py import_records {annotators|enterprises|facilities} FILE [--dry-run]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from qianbiao.core.tabular import imported_message, tabular_import

IMPORTERS = {
    "annotators": "qianbiao.workforce.imports.AnnotatorImporter",
    "enterprises": "qianbiao.enterprises.imports.EnterpriseImporter",
    "facilities": "qianbiao.programme.imports.FacilityImporter",
}


class Command(BaseCommand):
    help = "Import records from a CSV or .xlsx file: all rows or, if any row is wrong, none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(IMPORTERS))
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row and report; import nothing."
        )

    def handle(self, *args: Any, kind: str, file: Path, dry_run: bool, **options: Any) -> None:
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise CommandError(_("Cannot read %(file)s: %(error)s") % {"file": file, "error": exc}) from exc
        importer = import_string(IMPORTERS[kind])()
        result = tabular_import(importer=importer, content=content, filename=file.name, dry_run=dry_run)
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            raise CommandError(
                ngettext(
                    "%(rows)d row has errors; nothing was imported.",
                    "%(rows)d rows have errors; nothing was imported.",
                    result.bad_rows,
                )
                % {"rows": result.bad_rows}
            )
        if result.dry_run:
            self.stdout.write(
                ngettext(
                    "%(count)d row is valid; nothing was imported (dry run).",
                    "%(count)d rows are valid; nothing was imported (dry run).",
                    result.count,
                )
                % {"count": result.count}
            )
        else:
            self.stdout.write(self.style.SUCCESS(imported_message(importer, result.count)))
