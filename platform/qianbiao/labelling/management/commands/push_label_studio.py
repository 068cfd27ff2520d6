"""``manage.py push_label_studio --project ID [--limit N] [--batch-size N]``

Pushes a project's open, unpushed assignments to Label Studio now (what Celery's
``qianbiao.push_assignments`` does), one task per assignment, and prints the outcome
as one ``key=value`` line. Safe to run again at any time, also after a push that was
killed half-way: tasks Label Studio already holds are found, never imported twice.
Only one push per project runs at a time; a second one is refused (non-zero exit).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from annotation.errors import LabelStudioError
from qianbiao.labelling.push import assignments_push
from qianbiao.projects.models import DatasetProject


class Command(BaseCommand):
    @property
    def help(self) -> str:  # type: ignore[override]
        # Translated when the parser is built: argparse cannot handle a lazy string.
        return _("Push a project's open assignments to Label Studio, one task each, never twice.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, required=True, help=_("Dataset project id."))
        parser.add_argument(
            "--limit", type=int, help=_("Push at most this many assignments (default: 50,000).")
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            help=_("Tasks per Label Studio import call (default: LABEL_STUDIO_PUSH_BATCH)."),
        )

    def handle(self, *args, project: int, limit: int | None, batch_size: int | None, **options) -> None:
        for option, value in (("--limit", limit), ("--batch-size", batch_size)):
            if value is not None and value < 1:
                raise CommandError(
                    _("%(option)s must be a positive whole number, not %(value)s.")
                    % {"option": option, "value": value}
                )
        if not DatasetProject.objects.filter(pk=project).exists():
            raise CommandError(_("There is no dataset project with id %(project)s.") % {"project": project})
        kwargs = {"project_id": project, "batch_size": batch_size}
        if limit is not None:
            kwargs["limit"] = limit
        try:
            outcome = assignments_push(**kwargs)
        except LabelStudioError as exc:
            raise CommandError(_("Label Studio failed: %(error)s") % {"error": exc}) from exc
        if outcome.locked_out:
            raise CommandError(
                _("Another push of project %(project)s is running: try again when it has finished.")
                % {"project": project}
            )
        fields = {
            "project": outcome.project_id,
            "pushed": outcome.pushed,
            "created": outcome.created,
            "found_existing": outcome.found_existing,
            "skipped": outcome.skipped,
            "batches": outcome.batches,
            "more_pending": "yes" if outcome.more_pending else "no",
            # A push died less than LABEL_STUDIO_PUSH_SETTLE_SECONDS ago: nothing was sent.
            "deferred": "yes" if outcome.deferred else "no",
        }
        self.stdout.write(" ".join(f"{key}={value}" for key, value in fields.items()))
