"""Label Studio projects: create (after Label Studio validated the config), get, delete."""

from __future__ import annotations

from annotation.client import LabelStudioClient, sdk_errors
from annotation.label_configs import validate_label_config
from annotation.types import LabelConfig, Project


def _project(obj) -> Project:
    return Project(
        id=obj.id,
        title=obj.title or "",
        label_config=obj.label_config or "",
        maximum_annotations=obj.maximum_annotations or 1,
        task_count=getattr(obj, "task_number", None) or 0,
    )


def create_project(
    client: LabelStudioClient,
    title: str,
    label_config: LabelConfig | str,
    maximum_annotations: int = 1,
    description: str = "",
) -> Project:
    """Validates the config with Label Studio first (``LabelConfigError``), then creates.

    ``maximum_annotations`` is Label Studio's cap per task. Qianbiao pushes one task per
    assignment, so 1 is right: the overlap lives in our assignments, not in Label Studio.
    """
    xml = label_config.xml if isinstance(label_config, LabelConfig) else label_config
    validate_label_config(client, xml)
    with sdk_errors("create project"):
        created = client.sdk.projects.create(
            title=title, label_config=xml, maximum_annotations=maximum_annotations, description=description
        )
    return _project(created)


def get_project(client: LabelStudioClient, project_id: int) -> Project:
    """Raises ``LabelStudioNotFound`` when there is no such project (or this user may not see it)."""
    with sdk_errors(f"get project {project_id}"):
        return _project(client.sdk.projects.get(id=project_id))


def delete_project(client: LabelStudioClient, project_id: int) -> None:
    with sdk_errors(f"delete project {project_id}"):
        client.sdk.projects.delete(id=project_id)
