"""python manage.py explain_assignment --item ID --annotator ID

Answers "why did annotator X get item Y" (or why not) from what the distributor
recorded: eligibility now, the run and its rule, the load at decision, and the
item's assignment history. ``--annotator`` takes an id or an annotator number.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from qianbiao.projects.explain import assignment_explain
from qianbiao.projects.models import Item
from qianbiao.workforce.models import Annotator


class Command(BaseCommand):
    help = "Explain why an annotator did or did not get an item."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--item", type=int, required=True, help="item id")
        parser.add_argument("--annotator", required=True, help="annotator id or number (code)")

    def handle(self, *args, item: int, annotator: str, **options) -> None:
        if not Item.objects.filter(pk=item).exists():
            raise CommandError(f"no item {item}")
        found = Annotator.objects.filter(pk=int(annotator)).first() if annotator.isdigit() else None
        found = found or Annotator.objects.filter(code=annotator).first()
        if found is None:
            raise CommandError(f"no annotator with id or number {annotator!r}")
        self.stdout.write(assignment_explain(item_id=item, annotator_id=found.pk).as_text())
