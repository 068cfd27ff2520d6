"""``manage.py seed_guizhou [--annotators 20000]``: Guizhou reference data and,
optionally, the synthetic workforce. Safe to run again: it only adds or
corrects what is missing or different."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from qianbiao.programme.models import TargetScope
from qianbiao.workforce.headcount import headcount_by_scope
from qianbiao.workforce.models import Annotator
from seeds.guizhou import CREATED, UNCHANGED, UPDATED, load_reference_data
from seeds.workforce import generate_workforce


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]
        # Translated when the parser is built: argparse cannot handle a lazy string.
        return _("Load Guizhou reference data and, with --annotators, a synthetic workforce.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--annotators",
            type=int,
            default=0,
            help=_("Make sure this many synthetic annotators exist (e.g. 20000)."),
        )
        parser.add_argument(
            "--seed", type=int, default=2026, help=_("Random seed of the synthetic workforce.")
        )
        parser.add_argument("--no-progress", action="store_true", help=_("Hide the progress bar."))

    def handle(self, *args, annotators: int, seed: int, no_progress: bool, **options) -> None:
        if annotators < 0:
            raise CommandError(_("--annotators cannot be negative."))
        summary = load_reference_data()
        self.stdout.write(_("Reference data:"))
        for model, counts in summary.items():
            self.stdout.write(
                "  "
                + _("%(label)s: %(created)d created, %(updated)d updated, %(unchanged)d unchanged")
                % {
                    "label": model._meta.verbose_name_plural,
                    "created": counts[CREATED],
                    "updated": counts[UPDATED],
                    "unchanged": counts[UNCHANGED],
                }
            )

        if annotators:
            started = time.perf_counter()
            added = generate_workforce(annotators=annotators, seed=seed, progress=not no_progress)
            self.stdout.write(
                _("Synthetic workforce: %(added)d annotators added in %(seconds).1f s.")
                % {"added": added, "seconds": time.perf_counter() - started}
            )
        self.stdout.write(_("Annotators in the database: %(n)d.") % {"n": Annotator.objects.count()})

        today = timezone.localdate()
        (province,) = headcount_by_scope(day=today, scope=TargetScope.PROVINCE)
        if province.target:
            self.stdout.write(
                _("Headcount on %(day)s: %(headcount)d of a %(year)d target of %(target)d (%(pct).1f%%).")
                % {
                    "day": today.isoformat(),
                    "headcount": province.headcount,
                    "year": today.year,
                    "target": province.target,
                    "pct": province.percentage,
                }
            )
        else:
            self.stdout.write(
                _("Headcount on %(day)s: %(headcount)d.")
                % {"day": today.isoformat(), "headcount": province.headcount}
            )
        self.stdout.write(self.style.SUCCESS(_("Done.")))
