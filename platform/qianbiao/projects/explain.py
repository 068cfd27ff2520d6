"""Why did annotator X get item Y — or why not (selector; no writes).

Everything comes from what the distributor recorded: the run and its rule, the
annotator's open load when chosen, and each assignment's history (assigned,
submitted, or ended and why). An annotator's load at a past moment is rebuilt
from those timestamps, so "X was passed over because they held more open work
than the three who were chosen" can be shown, not just asserted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from qianbiao.workforce.models import Annotator

from .distribution import start_of_today
from .eligibility import eligibility_report
from .models import (
    Assignment,
    AssignmentState,
    DatasetProject,
    DistributionRun,
    Item,
    ItemState,
    ProjectStatus,
)


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    annotator_id: int
    annotator_code: str
    what: str


@dataclass
class Explanation:
    item: Item
    annotator: Annotator
    project: DatasetProject
    got_it: bool
    verdict: str
    eligibility: list[tuple[str, bool, str]]
    assignment: Assignment | None
    run: DistributionRun | None
    load_now: int
    assigned_today: int
    room_now: int
    history: list[Event] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        lines = [
            f"Item {self.item.pk} ({self.item.external_id}) of project {self.project.pk} «{self.project}», "
            f"annotator {self.annotator.pk} ({self.annotator.code})",
            f"Verdict: {self.verdict}",
        ]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines.append("Eligibility now:")
        lines += [f"  [{'ok' if ok else 'NO'}] {rule}: {facts}" for rule, ok, facts in self.eligibility]
        if self.run is not None:
            lines.append(
                f"Distribution run {self.run.pk} started {self.run.started_at:%Y-%m-%d %H:%M:%S}: "
                f"rule «{self.run.rule}», {self.run.eligible_annotators} eligible annotators, "
                f"{self.run.assignments_created} assignments"
            )
        lines.append(
            f"Load now: {self.load_now} open (cap {self.project.open_cap}), "
            f"{self.assigned_today} assigned today (quota {self.project.daily_quota}), room {self.room_now}"
        )
        lines.append("History of the item:")
        lines += [
            f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.annotator_code} (#{e.annotator_id}): {e.what}"
            for e in self.history
        ] or ["  (never assigned)"]
        return "\n".join(lines)


def annotator_open_load_at(
    *, project: DatasetProject, annotator_id: int, moment: dt.datetime, item_id: int | None = None
) -> int:
    """Open assignments the annotator held in the project when ``item_id`` was
    given out at ``moment``, rebuilt from assigned/submitted/ended timestamps.

    One chunk of a run stamps all its assignments with the same moment and
    decides ordinary items in id order (gold after them), so of that chunk only
    the ordinary assignments of lower item ids came before."""
    earlier = Q(assigned_at__lt=moment)
    if item_id is not None:
        earlier |= Q(assigned_at=moment, is_gold=False, item_id__lt=item_id)
    return (
        Assignment.objects.filter(earlier, project=project, annotator_id=annotator_id)
        .filter(Q(submitted_at__isnull=True) | Q(submitted_at__gte=moment))
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=moment))
        .count()
    )


def _history(assignments: list[Assignment]) -> list[Event]:
    events = []
    for a in assignments:
        code = a.annotator.code
        kind = "gold" if a.is_gold else f"slot {a.slot}"
        run = f"run {a.run_id}" if a.run_id else "no run recorded"
        events.append(
            Event(
                a.assigned_at,
                a.annotator_id,
                code,
                f"assigned ({kind}, {run}, open load {a.load_at_decision})",
            )
        )
        if a.submitted_at:
            events.append(Event(a.submitted_at, a.annotator_id, code, "submitted"))
        if a.state in (AssignmentState.EXPIRED, AssignmentState.REVOKED):
            events.append(
                Event(a.ended_at or a.expires_at, a.annotator_id, code, f"{a.state}: {a.end_reason or '—'}")
            )
    return sorted(events, key=lambda e: (e.at, e.annotator_id))


def assignment_explain(*, item_id: int, annotator_id: int) -> Explanation:
    item = Item.objects.select_related("project").get(pk=item_id)
    annotator = Annotator.objects.select_related("facility").get(pk=annotator_id)
    project = item.project
    eligibility = eligibility_report(project=project, annotator=annotator)
    all_assignments = list(
        Assignment.objects.filter(item=item).select_related("annotator", "run").order_by("assigned_at", "pk")
    )
    mine = next((a for a in all_assignments if a.annotator_id == annotator.pk), None)
    mine_in_project = Assignment.objects.filter(project=project, annotator=annotator)
    load_now = mine_in_project.filter(state=AssignmentState.OPEN).count()
    today = (
        mine_in_project.filter(assigned_at__gte=start_of_today())
        .exclude(state=AssignmentState.REVOKED)
        .count()
    )
    room = max(0, min(project.open_cap - load_now, project.daily_quota - today))
    expl = Explanation(
        item=item,
        annotator=annotator,
        project=project,
        got_it=mine is not None,
        verdict="",
        eligibility=eligibility,
        assignment=mine,
        run=mine.run if mine else None,
        load_now=load_now,
        assigned_today=today,
        room_now=room,
        history=_history(all_assignments),
    )
    if mine is not None:
        _explain_given(expl, mine, all_assignments)
    else:
        _explain_not_given(expl, all_assignments)
    return expl


def _explain_given(expl: Explanation, mine: Assignment, others: list[Assignment]) -> None:
    when = timezone.localtime(mine.assigned_at)
    if mine.is_gold:
        expl.verdict = (
            f"yes: gold item mixed in at {when:%Y-%m-%d %H:%M} to keep gold at the project's ratio "
            f"({expl.project.gold_ratio}) of the annotator's work"
        )
    else:
        expl.verdict = (
            f"yes: slot {mine.slot} given at {when:%Y-%m-%d %H:%M}"
            + (f" by distribution run {mine.run_id}" if mine.run_id else "")
            + f", when the annotator held {mine.load_at_decision} open assignment(s) in the project"
        )
        expl.reasons.append(
            "rule: " + (mine.run.rule if mine.run else "least-loaded eligible annotator first")
        )
        same_run = [a for a in others if a.pk != mine.pk and a.run_id and a.run_id == mine.run_id]
        if same_run:
            expl.reasons.append(
                "chosen in the same run for this item: "
                + ", ".join(f"{a.annotator.code} (open load {a.load_at_decision})" for a in same_run)
            )
    if mine.state != AssignmentState.OPEN:
        expl.reasons.append(
            f"the assignment is now {mine.state}" + (f": {mine.end_reason}" if mine.end_reason else "")
        )
    failing = [rule for rule, ok, _ in expl.eligibility if not ok]
    if failing:
        expl.reasons.append("no longer eligible now: " + ", ".join(failing))


def _explain_not_given(expl: Explanation, assignments: list[Assignment]) -> None:
    project, item = expl.project, expl.item
    failing = [(rule, facts) for rule, ok, facts in expl.eligibility if not ok]
    live = [a for a in assignments if a.state in (AssignmentState.OPEN, AssignmentState.SUBMITTED)]
    if failing:
        expl.verdict = "no: not eligible — " + "; ".join(f"{rule} ({facts})" for rule, facts in failing)
    elif item.is_gold:
        expl.verdict = "no: gold items are given only as each annotator's gold ratio falls due"
    elif project.status != ProjectStatus.ACTIVE:
        expl.verdict = f"no: the project is {project.status}, nothing is distributed"
    elif item.state == ItemState.PENDING and len(live) < project.overlap:
        expl.verdict = (
            f"not yet: the item has {project.overlap - len(live)} free slot(s) and the next distribution "
            "run will consider this annotator"
            + ("" if expl.room_now else ", though they have no room now (open-work cap or daily quota)")
        )
    else:
        expl.verdict = f"no: all {project.overlap} slot(s) went to other annotators"
    for a in live:
        if a.is_gold:
            continue
        theirs = a.load_at_decision
        mine_then = annotator_open_load_at(
            project=project, annotator_id=expl.annotator.pk, moment=a.assigned_at, item_id=item.pk
        )
        if failing:
            comparison = ""
        elif mine_then > theirs:
            comparison = (
                f"; this annotator then held {mine_then}, more, so least-loaded-first chose the other"
            )
        elif mine_then >= project.open_cap:
            comparison = f"; this annotator then held {mine_then}, at the open-work cap"
        else:
            comparison = (
                f"; this annotator then held {mine_then} — a tie is broken by higher quality then lower id, "
                "or they were not eligible or had no room (daily quota) at that run"
            )
        expl.reasons.append(
            f"slot {a.slot} → {a.annotator.code} in run {a.run_id} with open load {theirs}{comparison}"
        )
