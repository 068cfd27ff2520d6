"""Method re-check: re-measure every classification method on the project's gold
once gold has grown enough, and record the best (its own task,
workers.quality.recheck_quality_method, enqueued by the sweep when
``method_recheck_due``)."""

from __future__ import annotations

import datetime as dt
import logging
import math

from django.utils import timezone

from qianbiao.projects.models import DatasetProject

from . import labels as L
from .aggregation import CLASSIFICATION_METHODS, GOLD_CUTS, method_choose, methods_run
from .models import QualityPolicy
from .policy import policy_ensure
from .proposals import classification_rows, gold_labels
from .selectors import counted_annotations

logger = logging.getLogger(__name__)

# Re-measure the methods once gold answers have grown by a quarter (and by at least 30).
RECHECK_GROWTH = 1.25
RECHECK_MIN_NEW = 30
# At most one re-check enqueued per project in this long (a failed or timed-out
# one is retried after it, not every minute).
RECHECK_RETRY_AFTER = dt.timedelta(hours=1)
# Fewer gold pseudo-items than this in a cut and majority vote stands.
MIN_GOLD_PSEUDO_ITEMS = 30
# The methods a recheck measures (all of crowd-kit's that run on this data).
CANDIDATE_METHODS: tuple[str, ...] = CLASSIFICATION_METHODS


def _gold_grown(project: DatasetProject, policy: QualityPolicy) -> tuple[bool, int]:
    """(whether gold answers grew enough since the last check, how many there are)."""
    gold_answers = counted_annotations(project=project, item__is_gold=True).count()
    last = policy.method_checked_gold
    grown = gold_answers >= max(last + RECHECK_MIN_NEW, math.ceil(last * RECHECK_GROWTH))
    return bool(gold_answers) and (policy.method_checked_at is None or grown), gold_answers


def method_recheck_due(*, project_id: int) -> bool:
    """Whether the sweep should enqueue a re-check now: a classification project
    whose gold answers have grown enough, and no re-check enqueued or attempted in
    the last RECHECK_RETRY_AFTER (one still queued or running, or one that failed
    or timed out). Cheap (a policy read and a count): the sweep asks every minute."""
    project = DatasetProject.objects.get(pk=project_id)
    if project.task_type != L.CLASSIFICATION:
        return False
    policy = policy_ensure(project=project)
    attempted = policy.method_recheck_attempted_at
    if attempted is not None and timezone.now() - attempted < RECHECK_RETRY_AFTER:
        return False
    return _gold_grown(project, policy)[0]


def method_recheck_attempted(*, project_id: int) -> None:
    """Record that a re-check was enqueued, started or failed just now."""
    now = timezone.now()
    if QualityPolicy.objects.filter(project_id=project_id).update(method_recheck_attempted_at=now):
        return
    project = DatasetProject.objects.filter(pk=project_id).first()
    if project is not None:  # no policy yet
        QualityPolicy.objects.filter(pk=policy_ensure(project=project).pk).update(
            method_recheck_attempted_at=now
        )


def project_method_recheck(*, project_id: int, force: bool = False) -> QualityPolicy:
    """Measure every classification method on the project's gold and record the
    most accurate, when gold answers have grown enough since the last check (or
    ``force``). A pinned method still wins; the measurement is kept for the admin.
    Slow (minutes): runs in its own task (workers.quality.recheck_quality_method)."""
    project = DatasetProject.objects.get(pk=project_id)
    policy = policy_ensure(project=project)
    if project.task_type != L.CLASSIFICATION:
        return policy
    due, gold_answers = _gold_grown(project, policy)
    if not gold_answers or not (force or due):
        return policy
    frame = classification_rows(project, [], with_context=True)
    gold = gold_labels(project, frame["task"].unique())
    runs = methods_run(frame, gold, overlap=project.overlap, methods=CANDIDATE_METHODS)
    scores = [r.score for r in runs]
    policy.chosen_method = method_choose(scores, min_gold=MIN_GOLD_PSEUDO_ITEMS * GOLD_CUTS)
    policy.method_scores = [
        {
            "method": s.method,
            "correct": s.correct,
            "total": s.total,
            "accuracy": round(s.accuracy, 4),
            "error": s.error,
        }
        for s in scores
    ]
    policy.method_checked_at = timezone.now()
    policy.method_checked_gold = gold_answers
    policy.save(update_fields=["chosen_method", "method_scores", "method_checked_at", "method_checked_gold"])
    logger.info("project %s: %s chosen on gold (%s)", project.pk, policy.chosen_method, policy.method_scores)
    return policy
