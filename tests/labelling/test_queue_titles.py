"""Queue views carry human names: the project and the annotator's number (never their
name or phone), and the hand-off lands on a queue that holds the annotator's open work
before an emptied one of an older shard."""

from __future__ import annotations

import pytest

from qianbiao.labelling.models import LabelStudioAccount, LabelStudioProject, LabelStudioQueue
from qianbiao.labelling.queues import annotator_queues_open, queue_titles
from tests.labelstudio.conftest import make_work

pytestmark = pytest.mark.django_db


def test_queue_titles_name_the_project_and_the_annotator_number():
    project, (one, two), made = make_work(annotators=2, items=2)
    accounts = [
        LabelStudioAccount.objects.create(
            annotator=person, ls_user_id=800 + n, email=f"q{n}@ls.local", routing_key=f"rk-{n}"
        )
        for n, person in enumerate((one, two))
    ]
    first = LabelStudioProject.objects.create(project=project, shard=0, ls_project_id=41)
    second = LabelStudioProject.objects.create(project=project, shard=1, ls_project_id=42)
    assert queue_titles(shard=first, accounts=accounts) == {
        "rk-0": f"{project.name} · {one.code}",
        "rk-1": f"{project.name} · {two.code}",
    }
    assert queue_titles(shard=second, accounts=accounts[:1]) == {"rk-0": f"{project.name} (2) · {one.code}"}
    titles = " ".join(queue_titles(shard=first, accounts=accounts).values())
    assert one.name not in titles and two.name not in titles

    # The annotator's open work lives in the second shard: the hand-off's queue is that one.
    first.min_ls_task_id, first.max_ls_task_id = 1, 100
    second.min_ls_task_id, second.max_ls_task_id = 101, 200
    first.save()
    second.save()
    mine = next(a for a in made if a.annotator_id == one.pk)
    mine.ls_task_id = 150
    mine.save(update_fields=["ls_task_id"])
    for shard, view in ((first, 1), (second, 2)):
        LabelStudioQueue.objects.create(account=accounts[0], ls_project=shard, ls_view_id=view)
    queues = annotator_queues_open(annotator_id=one.pk, project_id=project.pk)
    assert [q.ls_view_id for q in queues] == [2, 1]
