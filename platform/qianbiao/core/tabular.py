"""All-or-nothing import of records from CSV or Excel files.

Every row is checked by a Django form, so a file meets the same validators as
the admin and each error names a column. Duplicates are looked for inside the
file and against the database. One bad row anywhere and nothing is written: a
half-imported file is harder to fix than a refused one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.forms.forms import DeclarativeFieldsMetaclass
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

# A file larger than a province's annotator roll is a mistake, not a workload.
MAX_ROWS = 50_000
# Values per ``__in`` query when looking for existing records.
LOOKUP_CHUNK = 5_000

# Row 0 stands for the file as a whole (unreadable, missing columns, …).
FILE_ROW = 0
HEADER_ROW = 1


class TabularFormatError(Exception):
    """The file cannot be read as a table at all."""


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.row == FILE_ROW:
            return _("file: %(message)s") % {"message": self.message}
        if not self.field:
            return _("row %(row)d: %(message)s") % {"row": self.row, "message": self.message}
        return _("row %(row)d, %(field)s: %(message)s") % {
            "row": self.row,
            "field": self.field,
            "message": self.message,
        }


@dataclass(frozen=True)
class ImportResult:
    count: int
    errors: tuple[RowError, ...] = ()
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> int:
        return len({error.row for error in self.errors})


@dataclass(frozen=True)
class SheetRow:
    number: int  # as the spreadsheet shows it: the header is row 1
    values: dict[str, str]
    stray_values: bool = False  # something in a column without a header


@dataclass(frozen=True)
class UniqueKey:
    """A value that must be unique within the file and new to the database."""

    column: str  # the column an error names
    cleaned_key: str  # where the row form's cleaned_data holds the normalised value
    model_field: str  # the model field to look the value up in


# --- reading ---------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        # Excel stores every number as a float; 5.0 in a cell means 5.
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _decode(content: bytes) -> str:
    # utf-8-sig also reads plain UTF-8; GB18030 is what Excel writes on a
    # Chinese Windows when asked for "CSV".
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TabularFormatError(_("The file is neither UTF-8 nor GB18030 text."))


def _csv_records(content: bytes) -> Iterable[list[Any]]:
    text = _decode(content)
    first_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        if "\t" in first_line:
            delimiter = "\t"
        elif ";" in first_line:
            delimiter = ";"
    try:
        # csv counts records, not physical lines, as a spreadsheet counts rows.
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise TabularFormatError(_("The CSV file is malformed: %(error)s") % {"error": exc}) from exc


def _xlsx_records(content: bytes) -> Iterable[list[Any]]:
    from openpyxl import load_workbook

    # openpyxl raises a zoo of exception types on a damaged or foreign file
    # (zip, XML, key and value errors); to the user they all mean the same.
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:
        raise TabularFormatError(_("The file is not a readable Excel .xlsx workbook.")) from exc
    try:
        # Read-only sheets yield empty rows for gaps, so positions are row numbers.
        sheet = workbook.worksheets[0]
        records: list[list[Any]] = []
        for values in sheet.iter_rows(values_only=True):
            records.append(list(values))
            if len(records) > MAX_ROWS + 1:
                break
        return records
    except Exception as exc:
        raise TabularFormatError(_("The file is not a readable Excel .xlsx workbook.")) from exc
    finally:
        workbook.close()


def _is_xlsx(content: bytes, filename: str) -> bool:
    return filename.lower().endswith(".xlsx") or content[:4] == b"PK\x03\x04"


def sheet_read(*, content: bytes, filename: str) -> tuple[list[str], list[SheetRow]]:
    """The header (lower-cased names) and the non-blank data rows of a file."""
    if filename.lower().endswith(".xls"):
        raise TabularFormatError(_("Old .xls workbooks are not supported: save the file as .xlsx or CSV."))
    records = list(_xlsx_records(content) if _is_xlsx(content, filename) else _csv_records(content))
    if not records:
        raise TabularFormatError(_("The file is empty."))
    if len(records) > MAX_ROWS + 1:
        raise TabularFormatError(
            _("The file has more than %(max)d rows: split it into several files.") % {"max": MAX_ROWS}
        )
    header = [_cell_text(name).lower() for name in records[0]]
    rows: list[SheetRow] = []
    for number, record in enumerate(records[1:], start=HEADER_ROW + 1):
        cells = [_cell_text(value) for value in record]
        if not any(cells):
            continue
        values = {name: cells[i] if i < len(cells) else "" for i, name in enumerate(header) if name}
        stray = any(cell for i, cell in enumerate(cells) if i >= len(header) or not header[i])
        rows.append(SheetRow(number=number, values=values, stray_values=stray))
    return header, rows


# --- fields shared by row forms -------------------------------------------


def _one_of(values: Sequence[str]) -> str:
    return _("One of: %(choices)s.") % {"choices": ", ".join(values)}


# A column hint listing the accepted values, translated when shown.
one_of = lazy(_one_of, str)

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "是", "有"})
FALSE_WORDS = frozenset({"", "0", "false", "f", "no", "n", "否", "无"})


class SheetBooleanField(forms.Field):
    """A yes/no cell. Django's BooleanField reads any unknown text as True,
    which would turn a typo into a security claim about a facility."""

    default_error_messages = {
        "invalid": gettext_lazy("Enter yes or no (1 or 0)."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value if value is not None else "").strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValidationError(self.error_messages["invalid"], code="invalid")

    def validate(self, value: Any) -> None:
        # False is an answer, not a missing value.
        pass


class _SharedFields(dict):
    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return dict(self)


class _SheetFormMetaclass(DeclarativeFieldsMetaclass):
    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> type:
        new_class = super().__new__(mcs, name, bases, attrs)
        new_class.base_fields = _SharedFields(new_class.base_fields)
        return new_class


class SheetRowForm(forms.Form, metaclass=_SheetFormMetaclass):
    """A form built once per row of a file. Django deep-copies every field and
    widget for each form; row forms keep no state in their fields, so they
    share them, which makes checking 20,000 rows markedly cheaper. Keep it
    that way: put per-file lookups on the form, never on a field."""


# --- importing --------------------------------------------------------------


class TabularImporter(ABC):
    """One kind of record. Subclasses name their columns, give a form per row
    and write the checked records in bulk."""

    name: ClassVar[str]
    model: ClassVar[type[models.Model]]
    columns: ClassVar[tuple[str, ...]]
    required_columns: ClassVar[tuple[str, ...]]
    unique_keys: ClassVar[tuple[UniqueKey, ...]] = ()
    column_help: ClassVar[dict[str, Any]] = {}  # column -> lazily translated hint

    def prepare(self, rows: Sequence[SheetRow]) -> None:  # noqa: B027 (an optional hook)
        """Load what the row forms look up, in a few queries for the whole file."""

    @abstractmethod
    def form(self, data: dict[str, str]) -> forms.BaseForm: ...

    @abstractmethod
    def record(self, form: forms.BaseForm) -> Any:
        """What ``create`` needs from a valid row."""

    @abstractmethod
    def create(self, records: list[Any]) -> int:
        """Write every record; runs inside one transaction."""

    def existing(self, key: UniqueKey, values: set[str]) -> set[str]:
        found: set[str] = set()
        ordered = sorted(values)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            found.update(
                self.model._default_manager.filter(**{f"{key.model_field}__in": chunk}).values_list(
                    key.model_field, flat=True
                )
            )
        return found


def _header_errors(importer: TabularImporter, header: list[str]) -> list[RowError]:
    errors: list[RowError] = []
    seen: set[str] = set()
    for name in header:
        if not name:
            continue
        if name in seen:
            errors.append(RowError(HEADER_ROW, name, _("The column appears twice.")))
        elif name not in importer.columns:
            errors.append(
                RowError(
                    HEADER_ROW,
                    name,
                    _("Unknown column; the columns are: %(columns)s.")
                    % {"columns": ", ".join(importer.columns)},
                )
            )
        seen.add(name)
    for name in importer.required_columns:
        if name not in seen:
            errors.append(RowError(HEADER_ROW, name, _("This column is required but missing.")))
    return errors


def _form_errors(row: SheetRow, form: forms.BaseForm) -> list[RowError]:
    errors: list[RowError] = []
    for name, messages in form.errors.items():
        column = "" if name == NON_FIELD_ERRORS else name
        errors.extend(RowError(row.number, column, str(message)) for message in messages)
    return errors


def tabular_import(
    *, importer: TabularImporter, content: bytes, filename: str, dry_run: bool = False
) -> ImportResult:
    """Check every row of the file, then create all of its records or none."""
    try:
        header, rows = sheet_read(content=content, filename=filename)
    except TabularFormatError as exc:
        return ImportResult(count=0, errors=(RowError(FILE_ROW, "", str(exc)),))
    errors = _header_errors(importer, header)
    if errors:
        return ImportResult(count=0, errors=tuple(errors))
    if not rows:
        return ImportResult(count=0, errors=(RowError(FILE_ROW, "", _("The file has no data rows.")),))

    importer.prepare(rows)
    records = _rows_checked(importer, rows, errors)
    if errors:
        errors.sort(key=lambda error: error.row)
        return ImportResult(count=0, errors=tuple(errors))
    if dry_run:
        return ImportResult(count=len(records), dry_run=True)
    try:
        with transaction.atomic():
            count = importer.create(records)
    except (IntegrityError, ValidationError) as exc:
        # The checks passed but writing failed: most likely someone created the
        # same record meanwhile. The transaction rolled back, so nothing is in.
        failed = [RowError(FILE_ROW, "", _("The records changed while importing; nothing was imported."))]
        if isinstance(exc, ValidationError):
            failed += [RowError(FILE_ROW, "", message) for message in exc.messages]
        return ImportResult(count=0, errors=tuple(failed))
    return ImportResult(count=count)


def _rows_checked(importer: TabularImporter, rows: list, errors: list[RowError]) -> list[Any]:
    """The records of the valid rows; every problem (form errors, stray values,
    repeats within the file, values already stored) is appended to ``errors``."""
    records: list[Any] = []
    # value -> the row it first appeared in, per unique column
    first_rows: dict[str, dict[str, int]] = {key.column: {} for key in importer.unique_keys}
    for row in rows:
        form = importer.form(row.values)
        valid = form.is_valid()
        errors.extend(_form_errors(row, form))
        if row.stray_values:
            errors.append(RowError(row.number, "", _("A value is in a column without a header.")))
            valid = False
        for key in importer.unique_keys:
            value = form.cleaned_data.get(key.cleaned_key) if key.column not in form.errors else None
            if not value:
                continue
            first = first_rows[key.column].setdefault(value, row.number)
            if first != row.number:
                errors.append(
                    RowError(row.number, key.column, _("The same value as in row %(row)d.") % {"row": first})
                )
                valid = False
        if valid:
            records.append(importer.record(form))

    for key in importer.unique_keys:
        for value in importer.existing(key, set(first_rows[key.column])):
            errors.append(
                RowError(
                    first_rows[key.column][value], key.column, _("A record with this value already exists.")
                )
            )
    return records


def imported_message(importer: TabularImporter, count: int) -> str:
    opts = importer.model._meta
    return ngettext("Imported %(count)d %(name)s.", "Imported %(count)d %(name)s.", count) % {
        "count": count,
        "name": opts.verbose_name if count == 1 else opts.verbose_name_plural,
    }
