"""Label Studio projects of a dataset project ("shards"): the first one made on demand,
the next ones by the push when a shard is full (``LABEL_STUDIO_SHARD_TASKS``).

Each shard is made in Label Studio first and recorded here second; a duplicate made by a
concurrent worker is deleted again, so a project never has two shards of one number.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from annotation.client import LabelStudioClient
from annotation.projects import create_project, delete_project
from annotation.webhooks import register_webhook
from qianbiao.labelling import selectors
from qianbiao.labelling.client import label_studio_admin
from qianbiao.labelling.models import LabelStudioProject
from qianbiao.projects.models import DatasetProject


def shard_create(client: LabelStudioClient, *, project: DatasetProject, shard: int) -> LabelStudioProject:
    """A new Label Studio project for one shard: config validated by Label Studio
    first (``LabelConfigError``), webhook registered with our secret header."""
    created = create_project(
        client,
        title=f"{project.name} · {project.pk}/{shard}"[:50],
        label_config=project.label_config,
        maximum_annotations=1,  # one task per assignment: overlap lives in our assignments
    )
    try:
        webhook = register_webhook(
            client,
            settings.LABEL_STUDIO_WEBHOOK_URL,
            settings.LABEL_STUDIO_WEBHOOK_SECRET,
            project_id=created.id,
        )
        with transaction.atomic():
            return LabelStudioProject.objects.create(
                project=project, shard=shard, ls_project_id=created.id, webhook_id=webhook.id
            )
    except IntegrityError:
        # Another worker made this shard first: ours is an empty duplicate.
        delete_project(client, created.id)
        return LabelStudioProject.objects.get(project=project, shard=shard)
    except Exception:
        delete_project(client, created.id)
        raise


def project_provision_label_studio(
    *, project_id: int, client: LabelStudioClient | None = None
) -> list[LabelStudioProject]:
    """The project's shards, creating the first one if there is none yet."""
    shards = selectors.project_shards(project_id=project_id)
    if shards:
        return shards
    project = DatasetProject.objects.get(pk=project_id)
    if client is None:
        with label_studio_admin() as admin:
            return [shard_create(admin, project=project, shard=0)]
    return [shard_create(client, project=project, shard=0)]


def webhooks_rotate() -> int:
    """Every shard's webhook brought up to the current secret (and URL); returns how
    many. Idempotent: ``register_webhook`` updates the one already there."""
    count = 0
    with label_studio_admin() as client:
        for shard in LabelStudioProject.objects.order_by("pk"):
            webhook = register_webhook(
                client,
                settings.LABEL_STUDIO_WEBHOOK_URL,
                settings.LABEL_STUDIO_WEBHOOK_SECRET,
                project_id=shard.ls_project_id,
            )
            if webhook.id != shard.webhook_id:
                LabelStudioProject.objects.filter(pk=shard.pk).update(webhook_id=webhook.id)
            count += 1
    return count
