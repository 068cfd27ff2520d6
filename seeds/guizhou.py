"""Loads the Guizhou reference data (seeds/data/guizhou.yaml).

Idempotent: every record is matched by its natural key and only fields that
differ are written, so loading twice leaves every row (and its primary key)
exactly as it was. Every record passes ``full_clean()`` first — a facility that
does not meet its grade rubric, or a malformed credit code, aborts the load and
rolls everything back.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, TypeVar

import yaml
from django.db import models, transaction

from qianbiao.enterprises.models import Enterprise
from qianbiao.programme.models import (
    Facility,
    GradeRubric,
    HeadcountTarget,
    Park,
    Region,
    TargetKind,
    TargetScope,
)
from qianbiao.workforce.models import Language
from seeds.identity import synthetic_credit_code

DATA_FILE = Path(__file__).resolve().parent / "data" / "guizhou.yaml"

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"

M = TypeVar("M", bound=models.Model)

# Per model: how many records were created / updated / left unchanged.
LoadSummary = dict[type[models.Model], Counter[str]]


def read_reference_data(*, path: Path = DATA_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _differs(obj: models.Model, field_name: str, value: Any) -> bool:
    field = obj._meta.get_field(field_name)
    if isinstance(field, models.ForeignKey):
        # Compare ids so that an unchanged foreign key costs no query.
        return getattr(obj, field.attname) != (value.pk if value is not None else None)
    return getattr(obj, field_name) != value


def _upsert(model: type[M], *, lookup: dict[str, Any], values: dict[str, Any]) -> tuple[M, str]:
    obj = model._default_manager.filter(**lookup).first()
    if obj is None:
        obj = model(**lookup, **values)
        obj.full_clean()
        obj.save()
        return obj, CREATED
    changed = [name for name, value in values.items() if _differs(obj, name, value)]
    if not changed:
        return obj, UNCHANGED
    for name in changed:
        setattr(obj, name, values[name])
    obj.full_clean()
    obj.save(update_fields=changed)
    return obj, UPDATED


def enterprise_credit_code(entry: dict[str, Any]) -> str:
    if entry.get("credit_code"):
        return entry["credit_code"]
    return synthetic_credit_code(entry["sample_index"], division=entry["division"])


def _check_split_adds_up(split: dict[str, Any], province: list[dict[str, Any]]) -> None:
    # A split that does not add up would show every prefecture "on track" while
    # the province is not (or the reverse): refuse it rather than load it.
    kind = split.get("kind", TargetKind.TARGET)
    total = sum(split["numbers"].values())
    for entry in province:
        if entry["year"] == split["year"] and entry["kind"] == kind and entry["number"] != total:
            raise ValueError(
                f"prefecture {kind}s for {split['year']} add up to {total}, "
                f"the province's is {entry['number']}"
            )


@transaction.atomic
def load_reference_data(*, path: Path = DATA_FILE) -> LoadSummary:
    data = read_reference_data(path=path)
    summary: LoadSummary = {}
    # Rubrics first: Facility.clean() reads them to check each facility's grade.
    _load_rubrics(data, summary)
    regions = _load_regions(data, summary)
    parks = _load_parks(data, summary, regions)
    enterprises = _load_enterprises(data, summary)
    _load_facilities(data, summary, regions, parks, enterprises)
    _load_languages(data, summary)
    _load_targets(data, summary, regions)
    return summary


def _count(summary: LoadSummary, model: type[models.Model], outcome: str) -> None:
    summary.setdefault(model, Counter())[outcome] += 1


def _load_rubrics(data: dict, summary: LoadSummary) -> None:
    for entry in data["grade_rubrics"]:
        values = {k: v for k, v in entry.items() if k != "grade"}
        _count(summary, GradeRubric, _upsert(GradeRubric, lookup={"grade": entry["grade"]}, values=values)[1])


def _load_regions(data: dict, summary: LoadSummary) -> dict[str, Region]:
    regions: dict[str, Region] = {}
    for entry in data["regions"]:
        values = {
            "name": entry["name"],
            "short_name": entry.get("short_name", ""),
            "has_official_code": entry.get("has_official_code", True),
            "is_autonomous": entry.get("is_autonomous", False),
            "specialisation": entry.get("specialisation", ""),
        }
        region, outcome = _upsert(Region, lookup={"code": entry["code"]}, values=values)
        regions[region.code] = region
        _count(summary, Region, outcome)
    return regions


def _load_parks(data: dict, summary: LoadSummary, regions: dict[str, Region]) -> dict[str, Park]:
    parks: dict[str, Park] = {}
    for entry in data["parks"]:
        values = {
            "name": entry["name"],
            "region": regions[entry["region"]],
            "is_provincial": entry.get("is_provincial", False),
            "name_confirmed": entry.get("name_confirmed", True),
            "notes": entry.get("notes", ""),
        }
        park, outcome = _upsert(Park, lookup={"code": entry["code"]}, values=values)
        parks[park.code] = park
        _count(summary, Park, outcome)
    return parks


def _load_enterprises(data: dict, summary: LoadSummary) -> dict[str, Enterprise]:
    enterprises: dict[str, Enterprise] = {}
    for entry in data["enterprises"]:
        values = {
            "name": entry["name"],
            "role": entry["role"],
            "home_city": entry.get("home_city", ""),
            "is_sample": not entry.get("credit_code"),
            "notes": entry.get("notes", ""),
        }
        lookup: dict[str, Any] = {"credit_code": enterprise_credit_code(entry)}
        enterprise, outcome = _upsert(Enterprise, lookup=lookup, values=values)
        enterprises[entry["key"]] = enterprise
        _count(summary, Enterprise, outcome)
    return enterprises


def _load_facilities(
    data: dict,
    summary: LoadSummary,
    regions: dict[str, Region],
    parks: dict[str, Park],
    enterprises: dict[str, Enterprise],
) -> None:
    for entry in data["facilities"]:
        values = {
            "name": entry["name"],
            "region": regions[entry["region"]],
            "park": parks[entry["park"]] if entry.get("park") else None,
            "operator": enterprises[entry["operator"]] if entry.get("operator") else None,
            "grade": entry["grade"],
            "seats": entry["seats"],
            "physical_security": entry.get("physical_security", False),
            "network_isolated": entry.get("network_isolated", False),
            "security_certification": entry.get("security_certification", ""),
            "opened_on": entry.get("opened_on"),
        }
        _count(summary, Facility, _upsert(Facility, lookup={"code": entry["code"]}, values=values)[1])


def _load_languages(data: dict, summary: LoadSummary) -> None:
    for entry in data["languages"]:
        values = {
            "name": entry["name"],
            "english_name": entry["english_name"],
            "is_minority": entry.get("is_minority", True),
            "code_confirmed": entry.get("code_confirmed", True),
        }
        _count(summary, Language, _upsert(Language, lookup={"code": entry["code"]}, values=values)[1])


def _load_targets(data: dict, summary: LoadSummary, regions: dict[str, Region]) -> None:
    targets = data["headcount_targets"]
    for entry in targets.get("province", []):
        lookup = {"scope": TargetScope.PROVINCE, "year": entry["year"], "kind": entry["kind"]}
        values = {"number": entry["number"], "source": entry.get("source", "")}
        _count(summary, HeadcountTarget, _upsert(HeadcountTarget, lookup=lookup, values=values)[1])
    split = targets.get("region")
    if not split:
        return
    _check_split_adds_up(split, targets.get("province", []))
    for code, number in split["numbers"].items():
        lookup = {
            "scope": TargetScope.REGION,
            "region": regions[code],
            "year": split["year"],
            "kind": split.get("kind", TargetKind.TARGET),
        }
        values = {"number": number, "source": split.get("source", "")}
        _count(summary, HeadcountTarget, _upsert(HeadcountTarget, lookup=lookup, values=values)[1])
