"""Quality control on real PostgreSQL: entry exam, pausing, low agreement,
review, gold marking, method choice, annotator quality."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from qianbiao.labelling.models import Annotation
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.items import items_import
from qianbiao.projects.models import (
    LIVE_ASSIGNMENT_STATES,
    AnnotatorStanding,
    Assignment,
    AssignmentState,
    Item,
    ItemState,
)
from qianbiao.quality import decisions, recheck
from qianbiao.quality.aggregation import (
    DAWID_SKENE,
    MAJORITY_VOTE,
    ONE_COIN_DS,
    WAWA,
    MethodScore,
    method_choose,
)
from qianbiao.quality.decisions import item_decide, items_decide, project_decide_ready
from qianbiao.quality.models import (
    AnnotatorQuality,
    EntryExam,
    ExamStatus,
    GoldJudgement,
    QualityPolicy,
    Result,
    ResultMethod,
    Review,
    ReviewOutcome,
)
from qianbiao.quality.outcomes import Outcome
from qianbiao.quality.policy import policy_pin_method
from qianbiao.quality.recheck import project_method_recheck
from qianbiao.quality.review import review_decide
from qianbiao.quality.selectors import (
    craftsman_candidates,
    entry_exam_gates,
    gold_accuracy_by_task_type,
    items_ready,
    review_queue,
)
from qianbiao.quality.standing import annotator_unpause
from qianbiao.workforce.services import SkillSpec
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory
from tests.quality.conftest import annotate, choice, rectangle
from tests.quality.crowds import confusion_crowd

pytestmark = pytest.mark.django_db

LABELS = ("cat", "dog", "fox", "owl")
FAST_METHODS = (MAJORITY_VOTE, WAWA, ONE_COIN_DS, DAWID_SKENE)


def _rows(n, *, gold=0, prefix="i"):
    rows = [{"external_id": f"{prefix}{k}", "data": {"text": f"条目 {k}"}} for k in range(n)]
    rows += [
        {
            "external_id": f"gold{k}",
            "data": {"text": f"金标 {k}"},
            "is_gold": True,
            "gold_answer": {"label": LABELS[k % 4]},
        }
        for k in range(gold)
    ]
    return rows


def _wrong(label):
    return LABELS[(LABELS.index(label) + 1) % 4]


def _answer_gold(annotator, *, right):
    """Answer the annotator's gold assignments: the first ``right`` correctly, the rest wrongly."""
    gold = Assignment.objects.filter(annotator=annotator, is_gold=True).select_related("item").order_by("pk")
    for k, a in enumerate(gold):
        truth = a.item.gold_answer["label"]
        annotate(a, choice(truth if k < right else _wrong(truth)))
    return [a.item_id for a in gold]


def test_newcomer_gets_only_gold_and_failing_the_exam_ends_ordinary_work(classification_project, classifiers):
    project = classification_project(overlap=1, gold_ratio=Decimal("0.1"))
    QualityPolicy.objects.create(project=project, entry_exam_items=4, exam_pass_accuracy=Decimal("0.75"))
    items_import(project=project, rows=_rows(30, gold=6))
    failing, passing = classifiers(2)

    project_distribute(project_id=project.pk)
    for a in (failing, passing):
        mine = Assignment.objects.filter(annotator=a)
        assert mine.count() == 4 and set(mine.values_list("is_gold", flat=True)) == {True}
    assert entry_exam_gates(project=project, annotator_ids=[failing.pk, passing.pk]) == {
        failing.pk: 0,
        passing.pk: 0,
    }
    # Nothing more while the exam is unanswered: no ordinary item, no fifth gold.
    project_distribute(project_id=project.pk)
    assert Assignment.objects.filter(project=project).count() == 8

    gold_items = set(_answer_gold(failing, right=1)) | set(_answer_gold(passing, right=4))
    for item_id in sorted(gold_items):
        assert item_decide(item_id=item_id).outcome == Outcome.GOLD_MARKED

    exam = EntryExam.objects.get(project=project, annotator=failing)
    assert (exam.status, exam.correct, exam.answered) == (ExamStatus.FAILED, 1, 4)
    assert EntryExam.objects.get(project=project, annotator=passing).status == ExamStatus.PASSED
    standing = AnnotatorStanding.objects.get(project=project, annotator=failing)
    assert standing.paused and "entry exam: 1/4 correct" in standing.paused_reason

    for _ in range(2):
        project_distribute(project_id=project.pk)
    assert not Assignment.objects.filter(annotator=failing, is_gold=False).exists()
    assert Assignment.objects.filter(annotator=passing, is_gold=False).count() == 30

    # A manager's un-pause waives the failed exam: ordinary work follows.
    annotator_unpause(project=project, annotator_id=failing.pk, note="retrained on 2026-11-20")
    assert EntryExam.objects.get(project=project, annotator=failing).status == ExamStatus.WAIVED
    Assignment.objects.filter(annotator=passing, is_gold=False).update(state=AssignmentState.REVOKED)
    Item.objects.filter(project=project, is_gold=False).update(state=ItemState.PENDING)
    project_distribute(project_id=project.pk)
    assert Assignment.objects.filter(annotator=failing, is_gold=False).exists()


def test_annotator_below_the_accuracy_threshold_is_paused_and_their_work_redistributed(
    classification_project, classifiers
):
    project = classification_project(overlap=1, gold_ratio=Decimal("0.4"))
    QualityPolicy.objects.create(project=project, accuracy_threshold=Decimal("0.7"), min_gold_to_pause=10)
    items_import(project=project, rows=_rows(60, gold=25))
    sloppy, careful = classifiers(2)
    project_distribute(project_id=project.pk)
    sloppy_items = set(
        Assignment.objects.filter(annotator=sloppy, is_gold=False).values_list("item_id", flat=True)
    )
    assert len(sloppy_items) == 30
    assert Assignment.objects.filter(annotator=sloppy, is_gold=True).count() == 20

    # Gold answered, ordinary work still open.
    gold_items = set(_answer_gold(sloppy, right=3)) | set(_answer_gold(careful, right=20))
    items_decide(item_ids=sorted(gold_items))

    standing = AnnotatorStanding.objects.get(project=project, annotator=sloppy)
    assert standing.paused
    assert "gold accuracy 3/20 = 15% (95% CI 5%–36%) is below the project's 70%" in standing.paused_reason
    quality = AnnotatorQuality.objects.get(project=project, annotator=sloppy)
    assert (quality.gold_answered, quality.gold_correct) == (20, 3)
    assert not AnnotatorStanding.objects.get(project=project, annotator=careful).paused
    assert (
        AnnotatorStanding.objects.get(project=project, annotator=careful).quality_score
        > standing.quality_score
    )
    revoked = Assignment.objects.filter(annotator=sloppy, is_gold=False, state=AssignmentState.REVOKED)
    assert set(revoked.values_list("item_id", flat=True)) == sloppy_items
    assert set(Item.objects.filter(pk__in=sloppy_items).values_list("state", flat=True)) == {
        ItemState.PENDING
    }

    project_distribute(project_id=project.pk)
    now_with = dict(
        Assignment.objects.filter(item_id__in=sloppy_items, state__in=LIVE_ASSIGNMENT_STATES).values_list(
            "item_id", "annotator_id"
        )
    )
    assert now_with == {item_id: careful.pk for item_id in sloppy_items}
    assert not Assignment.objects.filter(annotator=sloppy, state=AssignmentState.OPEN).exists()


@pytest.mark.parametrize(
    ("ordinary", "right", "answered", "paused"),
    [
        (9, 0, 6, False),  # 0 of 6: too few answers to judge anyone (min_gold_to_pause is 10)
        (15, 4, 10, True),  # 4 of 10: the 95% interval tops out at 69%, under the 70% bar
        (18, 6, 12, False),  # 6 of 12 is under 70%, but the interval reaches 75%: not proven
    ],
)
def test_pausing_waits_for_enough_gold_and_for_confidence(
    classification_project, classifiers, ordinary, right, answered, paused
):
    # Gold ratio 0.4: an annotator with n ordinary items is owed 2n/3 gold.
    project = classification_project(overlap=1, gold_ratio=Decimal("0.4"))
    QualityPolicy.objects.create(project=project, accuracy_threshold=Decimal("0.7"), min_gold_to_pause=10)
    items_import(project=project, rows=_rows(ordinary, gold=14))
    (annotator,) = classifiers(1)
    project_distribute(project_id=project.pk)
    gold_items = _answer_gold(annotator, right=right)
    assert len(gold_items) == answered
    items_decide(item_ids=gold_items)
    quality = AnnotatorQuality.objects.get(project=project, annotator=annotator)
    assert (quality.gold_correct, quality.gold_answered) == (right, answered)
    assert (
        AnnotatorStanding.objects.filter(project=project, annotator=annotator, paused=True).exists() == paused
    )


def test_low_agreement_adds_annotators_then_review_decides_the_result(
    classification_project, classifiers, reviewer
):
    project = classification_project(overlap=3, agreement_threshold=Decimal("0.7"))
    QualityPolicy.objects.create(project=project, max_overlap=5, extra_per_round=2)
    items_import(project=project, rows=[{"external_id": "disputed", "data": {"text": "?"}},
                                        {"external_id": "clear", "data": {"text": "!"}}])  # fmt: skip
    annotators = classifiers(6)
    project_distribute(project_id=project.pk)
    disputed, clear = Item.objects.get(external_id="disputed"), Item.objects.get(external_id="clear")
    first = list(Assignment.objects.filter(item=disputed).order_by("slot"))
    for a, label in zip(first, ("cat", "cat", "dog"), strict=True):
        annotate(a, choice(label))
    for a in Assignment.objects.filter(item=clear):
        annotate(a, choice("owl"))

    # The periodic sweep finds both ready items by itself.
    decisions = {d.item_id: d for d in project_decide_ready(project_id=project.pk)}
    assert set(decisions) == {disputed.pk, clear.pk}

    assert decisions[clear.pk].outcome == Outcome.ACCEPTED
    result = Result.objects.get(item=clear)
    assert (result.method, result.agreement, result.annotations_used) == (ResultMethod.MAJORITY_VOTE, 1.0, 3)
    assert result.label == choice("owl")
    assert decisions[disputed.pk].outcome == Outcome.MORE_ANNOTATORS
    disputed.refresh_from_db()
    assert (disputed.extra_slots, disputed.state) == (2, ItemState.PENDING)
    assert not Result.objects.filter(item=disputed).exists()

    project_distribute(project_id=project.pk)
    live = Assignment.objects.filter(item=disputed, state__in=LIVE_ASSIGNMENT_STATES)
    assert sorted(live.values_list("slot", flat=True)) == [0, 1, 2, 3, 4]
    assert len(set(live.values_list("annotator_id", flat=True))) == 5
    assert item_decide(item_id=disputed.pk).outcome == Outcome.WAITING
    for a, label in zip(live.filter(slot__gte=3).order_by("slot"), ("dog", "fox"), strict=True):
        annotate(a, choice(label))

    decision = item_decide(item_id=disputed.pk)

    assert decision.outcome == Outcome.REVIEW and decision.agreement == pytest.approx(0.4)
    review = Review.objects.get(item=disputed)
    assert review.decided_at is None and review.annotations_used == 5
    assert "agreement 0.40 below 0.70 with 5 annotators" in review.reason
    disputed.refresh_from_db()
    assert disputed.state == ItemState.REVIEW
    assert list(review_queue(reviewer=reviewer)) == [review]
    assert not review_queue(reviewer=annotators[0]).exists()
    with pytest.raises(ValidationError):
        review_decide(review_id=review.pk, reviewer_id=annotators[0].pk, outcome=ReviewOutcome.ACCEPT)

    result = review_decide(
        review_id=review.pk, reviewer_id=reviewer.pk, outcome=ReviewOutcome.CORRECT,
        label={"label": "dog"}, note="狗，不是猫",
    )  # fmt: skip

    assert (result.method, result.label, result.rejected) == (ResultMethod.REVIEW, choice("dog"), False)
    assert result.agreement == pytest.approx(2 / 5) and result.annotations_used == 5
    review.refresh_from_db()
    assert (review.outcome, review.reviewer, review.label) == (ReviewOutcome.CORRECT, reviewer, choice("dog"))
    disputed.refresh_from_db()
    assert disputed.state == ItemState.ACCEPTED
    dog_people = Annotation.objects.filter(item=disputed, result=choice("dog")).values_list(
        "annotator_id", flat=True
    )
    assert {q.review_agreement_sum for q in AnnotatorQuality.objects.filter(annotator_id__in=dog_people)} == {
        1.0
    }
    with pytest.raises(ValidationError):
        review_decide(review_id=review.pk, reviewer_id=reviewer.pk, outcome=ReviewOutcome.ACCEPT)
    assert item_decide(item_id=disputed.pk).outcome == Outcome.ALREADY_DECIDED


def test_a_stale_decision_does_not_widen_an_item_again_or_send_it_to_review(
    classification_project, classifiers, monkeypatch
):
    # Two sweeps can decide one project at once (beat enqueues one a minute, a
    # decision can take minutes). Each reads the answers, then settles under the
    # item lock; here the other one settles in between, deterministically.
    project = classification_project(overlap=3, agreement_threshold=Decimal("0.7"))
    QualityPolicy.objects.create(project=project, max_overlap=5, extra_per_round=2)
    items_import(project=project, rows=_rows(1))
    classifiers(5)
    project_distribute(project_id=project.pk)
    item = Item.objects.get(project=project)
    for a, label in zip(
        Assignment.objects.filter(item=item).order_by("slot"), ("cat", "dog", "fox"), strict=True
    ):
        annotate(a, choice(label))
    real_settle = decisions._settle
    competitor: list = []

    def settle_after_a_competitor(project, policy, proposals):
        if not competitor:
            competitor.append(None)  # the competitor settles for real, at once
            competitor[0] = project_decide_ready(project_id=project.pk)
        return real_settle(project, policy, proposals)

    monkeypatch.setattr(decisions, "_settle", settle_after_a_competitor)

    (stale,) = project_decide_ready(project_id=project.pk)

    assert [d.outcome for d in competitor[0]] == [Outcome.MORE_ANNOTATORS]
    assert stale.outcome == Outcome.WAITING and stale.detail == "needs 5"
    item.refresh_from_db()
    assert (item.extra_slots, item.state) == (2, ItemState.PENDING)  # widened once: 3 answers, 5 slots
    assert not Review.objects.filter(item=item).exists()
    assert not Result.objects.filter(item=item).exists()


def test_review_accept_and_reject(classification_project, classifiers, reviewer):
    project = classification_project(overlap=2, agreement_threshold=Decimal("0.9"))
    QualityPolicy.objects.create(project=project, max_overlap=2)
    items_import(project=project, rows=_rows(2))
    classifiers(2)
    project_distribute(project_id=project.pk)
    for item in Item.objects.filter(project=project):
        for a, label in zip(
            Assignment.objects.filter(item=item).order_by("slot"), ("cat", "dog"), strict=True
        ):
            annotate(a, choice(label))
    assert {d.outcome for d in items_decide(item_ids=list(Item.objects.values_list("pk", flat=True)))} == {
        Outcome.REVIEW
    }
    accept, reject = Review.objects.order_by("pk")
    kept = review_decide(review_id=accept.pk, reviewer_id=reviewer.pk, outcome=ReviewOutcome.ACCEPT)
    assert kept.label == accept.proposed_label and kept.agreement == 0.5
    dropped = review_decide(
        review_id=reject.pk, reviewer_id=reviewer.pk, outcome=ReviewOutcome.REJECT, note="图片损坏"
    )
    assert dropped.rejected and dropped.label == [] and dropped.agreement is None


def test_boxes_reach_consensus_by_overlap_and_gold_boxes_are_marked():
    facility = FacilityFactory()
    project = DatasetProjectFactory(overlap=3, open_cap=100, gold_ratio=Decimal("0.5"))
    QualityPolicy.objects.create(project=project, iou_threshold=Decimal("0.5"))
    gold_box = {"boxes": [{"x": 10, "y": 10, "width": 30, "height": 20, "label": "car"}]}
    rows = [
        {"external_id": "road", "data": {"image": "/img/road.jpg"}},
        {"external_id": "g", "data": {"image": "/img/g.jpg"}, "is_gold": True, "gold_answer": gold_box},
    ]
    items_import(project=project, rows=rows)
    annotators = [
        AnnotatorFactory(facility=facility, skills=(SkillSpec("bounding_box", 2),)) for _ in range(3)
    ]
    project_distribute(project_id=project.pk)
    road = Item.objects.get(external_id="road")
    for a, dx in zip(Assignment.objects.filter(item=road).order_by("slot"), (0.0, 0.5, -0.5), strict=True):
        annotate(a, [rectangle(20 + dx, 40, 25, 15), rectangle(70, 70, 10, 10, "person")])

    decision = item_decide(item_id=road.pk)

    assert decision.outcome == Outcome.ACCEPTED and decision.method == ResultMethod.IOU_MATCH
    result = Result.objects.get(item=road)
    assert result.agreement > 0.9
    assert sorted(r["value"]["rectanglelabels"][0] for r in result.label) == ["car", "person"]
    car = next(r["value"] for r in result.label if r["value"]["rectanglelabels"] == ["car"])
    assert (car["x"], car["y"], car["width"], car["height"]) == (20.0, 40.0, 25.0, 15.0)

    gold = Item.objects.get(external_id="g")
    answers = iter(
        [[rectangle(11, 10, 30, 20)], [rectangle(10, 10, 30, 20, "truck")], [rectangle(60, 60, 5, 5)]]
    )
    for a in Assignment.objects.filter(item=gold):
        annotate(a, next(answers))
    assert Assignment.objects.filter(item=gold).count() == 3 and {a.pk for a in annotators}
    assert item_decide(item_id=gold.pk).outcome == Outcome.GOLD_MARKED
    marks = sorted(GoldJudgement.objects.filter(item=gold).values_list("correct", "score"), reverse=True)
    assert marks[0][0] is True and marks[0][1] > 0.9
    assert [m[0] for m in marks[1:]] == [False, False]
    assert Result.objects.get(item=gold).method == ResultMethod.GOLD
    assert item_decide(item_id=gold.pk).detail == "0 new"  # marking is idempotent


def test_transcription_consensus_is_the_medoid():
    facility = FacilityFactory()
    config = (
        '<View><Audio name="audio" value="$audio"/><TextArea name="transcription" toName="audio"/></View>'
    )
    project = DatasetProjectFactory(
        task_type="transcription", overlap=3, agreement_threshold=Decimal("0.8"), label_config=config
    )
    items_import(project=project, rows=[{"external_id": "song", "data": {"audio": "/a/1.wav"}}])
    for _ in range(3):
        AnnotatorFactory(facility=facility, skills=(SkillSpec("transcription", 2),))
    project_distribute(project_id=project.pk)
    texts = iter(["苗族飞歌唱起来", "苗族飞歌唱起来。", "苗族飞哥唱起来"])
    for a in Assignment.objects.filter(project=project):
        annotate(a, [{"from_name": "transcription", "to_name": "audio", "type": "textarea",
                      "value": {"text": [next(texts)]}}])  # fmt: skip
    decision = item_decide(item_id=Item.objects.get().pk)
    assert decision.outcome == Outcome.ACCEPTED and decision.method == ResultMethod.TEXT_DISTANCE
    result = Result.objects.get()
    assert result.label[0]["value"]["text"][0] in {"苗族飞歌唱起来", "苗族飞歌唱起来。"}
    assert result.agreement == pytest.approx(1 - (1 / 7) / 3)


def test_method_is_chosen_from_gold_rechecked_as_gold_grows_and_can_be_pinned(
    classification_project, monkeypatch
):
    # The plumbing, not the methods (test_consensus_methods measures all seven):
    # four of them keep this test to seconds; GLAD alone takes 13 s on this crowd.
    monkeypatch.setattr(recheck, "CANDIDATE_METHODS", FAST_METHODS)
    crowd = confusion_crowd(3, n_items=240, n_gold=40, n_workers=12, gold_views=9, spammers=2)
    project = classification_project(overlap=3, agreement_threshold=Decimal("0.6"))
    gold_tasks = sorted(crowd.gold)
    ordinary_tasks = sorted(set(crowd.truth) - set(crowd.gold))
    items_import(
        project=project,
        rows=[{"external_id": t, "data": {"text": t}} for t in ordinary_tasks]
        + [{"external_id": t, "data": {"text": t}, "is_gold": True, "gold_answer": {"label": crowd.gold[t]}}
           for t in gold_tasks],
    )  # fmt: skip
    item_of = dict(Item.objects.filter(project=project).values_list("external_id", "pk"))
    facility = FacilityFactory()
    workers = {w: AnnotatorFactory(facility=facility) for w in sorted(crowd.frame.worker.unique())}
    ids = itertools.count(7_000_000)
    # Ordinary answers first; gold answers later, in two instalments.
    later = crowd.frame[crowd.frame.task.isin(gold_tasks[20:])]
    first = crowd.frame.drop(later.index)

    def load(frame):
        Annotation.objects.bulk_create(
            Annotation(
                ls_annotation_id=(n := next(ids)),
                ls_task_id=n,
                project=project,
                item_id=item_of[r.task],
                annotator=workers[r.worker],
                result=choice(r.label),
                received_via="test",
            )  # fmt: skip
            for r in frame.itertuples()
        )

    load(first)
    policy = project_method_recheck(project_id=project.pk)
    scores = [MethodScore(s["method"], s["correct"], s["total"], s["error"]) for s in policy.method_scores]
    assert [s.method for s in scores] == list(FAST_METHODS)
    assert scores[0].total == 3 * 20 * 3  # 3 cuts × 20 gold items × 3 groups of 3 answers
    assert policy.chosen_method == method_choose(scores, min_gold=90)
    checked_at = policy.method_checked_at
    assert project_method_recheck(project_id=project.pk).method_checked_at == checked_at  # nothing new

    load(later)
    policy = project_method_recheck(project_id=project.pk)
    assert policy.method_checked_at > checked_at and policy.method_scores[0]["total"] == 3 * 40 * 3
    print("\nmethod scores on gold:", [(s["method"], s["accuracy"]) for s in policy.method_scores])

    ready = items_ready(project=project)
    assert len(ready) == len(ordinary_tasks)
    half = len(ready) // 2
    decided = items_decide(item_ids=ready[:half])
    accepted = [d for d in decided if d.outcome == Outcome.ACCEPTED]
    assert accepted and {d.method for d in accepted} == {policy.chosen_method}
    assert set(Result.objects.filter(item_id__in=ready[:half]).values_list("method", flat=True)) == {
        policy.chosen_method
    }

    policy_pin_method(project=project, method=MAJORITY_VOTE)
    rest = [d for d in items_decide(item_ids=ready[half:]) if d.outcome == Outcome.ACCEPTED]
    assert rest and {d.method for d in rest} == {MAJORITY_VOTE}
    with pytest.raises(ValidationError):
        policy_pin_method(project=project, method="coin_toss")


def test_craftsman_candidates_need_score_volume_gold_and_good_standing(classification_project, classifiers):
    project = classification_project(overlap=1)
    items_import(project=project, rows=_rows(40))
    star, steady, paused, newcomer = classifiers(4)
    item_ids = list(Item.objects.filter(project=project).values_list("pk", flat=True))
    ids = itertools.count(8_000_000)
    for person, count in ((star, 40), (steady, 40), (paused, 40), (newcomer, 3)):
        Annotation.objects.bulk_create(
            Annotation(
                ls_annotation_id=(n := next(ids)),
                ls_task_id=n,
                project=project,
                item_id=item_ids[k],
                annotator=person,
                result=choice("cat"),
            )  # fmt: skip
            for k in range(count)
        )
    for person, score, answered, correct in (
        (star, 0.97, 60, 59), (steady, 0.88, 60, 53), (paused, 0.96, 60, 59), (newcomer, 0.99, 3, 3),
    ):  # fmt: skip
        AnnotatorQuality.objects.create(
            project=project, annotator=person, task_type=project.task_type, score=score,
            gold_answered=answered, gold_correct=correct, consensus_answered=40,
        )  # fmt: skip
    AnnotatorStanding.objects.create(project=project, annotator=paused, paused=True, paused_reason="test")

    candidates = craftsman_candidates(min_annotations=20, min_gold=50, min_score=0.9, min_gold_low=0.85)

    assert [c.annotator_id for c in candidates] == [star.pk]
    assert candidates[0].annotations == 40 and candidates[0].gold_low == pytest.approx(0.911, abs=1e-3)


def test_a_task_type_without_automatic_consensus_goes_straight_to_review(reviewer):
    facility = FacilityFactory()
    project = DatasetProjectFactory(task_type="video_tracking", overlap=2)
    QualityPolicy.objects.create(project=project, max_overlap=5)
    items_import(project=project, rows=[{"external_id": "clip", "data": {"video": "/v/1.mp4"}}])
    for _ in range(2):
        AnnotatorFactory(facility=facility, skills=(SkillSpec("video_tracking", 2),))
    project_distribute(project_id=project.pk)
    track = [{"from_name": "box", "to_name": "video", "type": "videorectangle", "value": {"sequence": []}}]
    for a in Assignment.objects.filter(project=project):
        annotate(a, track)
    item = Item.objects.get()

    decision = item_decide(item_id=item.pk)

    assert decision.outcome == Outcome.REVIEW and "no automatic consensus" in decision.detail
    item.refresh_from_db()
    assert item.extra_slots == 0
    review = Review.objects.get(item=item)
    with pytest.raises(ValidationError):
        review_decide(
            review_id=review.pk, reviewer_id=reviewer.pk, outcome=ReviewOutcome.CORRECT, label={"x": 1}
        )
    result = review_decide(
        review_id=review.pk, reviewer_id=reviewer.pk, outcome=ReviewOutcome.CORRECT, label=track
    )
    assert result.label == track and result.method == ResultMethod.REVIEW and result.agreement is None


def test_gold_accuracy_is_kept_per_project_and_pooled_per_task_type(classification_project, classifiers):
    (person,) = classifiers(1)
    first, second = classification_project(), classification_project()
    boxes = DatasetProjectFactory()
    for project, answered, correct in ((first, 4, 4), (second, 16, 12), (boxes, 10, 5)):
        AnnotatorQuality.objects.create(
            project=project, annotator=person, task_type=project.task_type,
            gold_answered=answered, gold_correct=correct,
        )  # fmt: skip
    pooled = {r.task_type: r for r in gold_accuracy_by_task_type(annotator_ids=[person.pk])}
    assert (pooled["text_classification"].correct, pooled["text_classification"].answered) == (16, 20)
    assert pooled["text_classification"].interval.low == pytest.approx(0.584, abs=1e-3)
    assert pooled["bounding_box"].accuracy == 0.5
