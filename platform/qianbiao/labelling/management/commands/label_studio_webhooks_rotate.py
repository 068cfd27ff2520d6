"""Re-register every shard's webhook with the current LABEL_STUDIO_WEBHOOK_SECRET."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import LabelStudioError
from qianbiao.labelling.shards import webhooks_rotate


class Command(BaseCommand):
    help = (
        "Gives every Label Studio project of ours a webhook carrying the current "
        "LABEL_STUDIO_WEBHOOK_SECRET (set the old one in LABEL_STUDIO_WEBHOOK_PREVIOUS_SECRETS "
        "first, so that deliveries still carrying it are accepted meanwhile)."
    )

    def handle(self, *args, **options) -> None:
        try:
            count = webhooks_rotate()
        except LabelStudioError as exc:
            raise CommandError(f"Label Studio: {exc}") from exc
        self.stdout.write(f"webhooks updated: {count}")
