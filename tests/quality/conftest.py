"""Quality-control test helpers: projects of each task type, annotating an
assignment as Label Studio would return it, and a summary of the measured
method accuracies printed at the end of the run."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from qianbiao.labelling.models import Annotation
from qianbiao.projects.models import Assignment, AssignmentState
from qianbiao.workforce.services import SkillSpec
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory

CLASSIFY = (SkillSpec("text_classification", 2),)
CLASSIFICATION_CONFIG = (
    '<View><Text name="text" value="$text"/>'
    '<Choices name="label" toName="text"><Choice value="cat"/><Choice value="dog"/>'
    '<Choice value="fox"/><Choice value="owl"/></Choices></View>'
)

_ls_ids = itertools.count(5_000_000)

# (crowd, seed) → {method: accuracy}, picked method; filled by the crowd tests.
MEASURED: dict[tuple[str, int], tuple[dict[str, float], dict[str, float], str]] = {}


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def rectangle(x: float, y: float, w: float, h: float, label: str = "car") -> dict:
    return {
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]},
    }


def annotate(assignment: Assignment, result: list[dict], **fields) -> Annotation:
    """What the Label Studio ingestion records for a submitted assignment."""
    n = next(_ls_ids)
    annotation = Annotation.objects.create(
        ls_annotation_id=n,
        ls_task_id=n,
        assignment=assignment,
        project_id=assignment.project_id,
        item_id=assignment.item_id,
        annotator_id=assignment.annotator_id,
        result=result,
        lead_time_s=12.0,
        received_via="test",
        **fields,
    )
    Assignment.objects.filter(pk=assignment.pk).update(
        state=AssignmentState.SUBMITTED, submitted_at=timezone.now()
    )
    return annotation


@pytest.fixture
def classification_project(db):
    def make(**fields):
        defaults = dict(
            task_type="text_classification",
            domain="minority_language",
            label_config=CLASSIFICATION_CONFIG,
            overlap=3,
            gold_ratio=0,
            open_cap=1000,
        )
        defaults.update(fields)
        return DatasetProjectFactory(**defaults)

    return make


@pytest.fixture
def classifiers(db):
    """Annotators eligible for classification projects, in one L3 facility."""
    facility = FacilityFactory()

    def make(n: int, **fields):
        return [AnnotatorFactory(facility=facility, skills=CLASSIFY, **fields) for _ in range(n)]

    return make


SHORT = {
    "majority_vote": "MV",
    "wawa": "Wawa",
    "one_coin_dawid_skene": "1-coin DS",
    "dawid_skene": "DS",
    "zero_based_skill": "ZBS",
    "glad": "GLAD",
    "mace": "MACE",
}


def pytest_terminal_summary(terminalreporter):
    if not MEASURED:
        return
    write = terminalreporter.write_line
    terminalreporter.section("consensus methods on synthetic crowds: accuracy on ordinary items / on gold")
    methods = list(next(iter(MEASURED.values()))[0])
    write("crowd       seed " + "".join(f"{SHORT.get(m, m):>13}" for m in methods) + "  picked from gold")
    for (kind, seed), (truth, gold, picked) in sorted(MEASURED.items()):
        best = max(truth.values())
        cells = "".join(f"{truth[m]:.3f}/{gold[m]:.3f}".rjust(13) for m in methods)
        shortfall = 100 * (best - truth[picked])
        write(
            f"{kind:<11} {seed:>4} {cells}  {SHORT.get(picked, picked)} ({shortfall:.2f} pt below the best)"
        )
