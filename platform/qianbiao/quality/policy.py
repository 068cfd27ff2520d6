"""A project's quality policy, for managers: created on first use, and a consensus
method they may pin over the one measured on gold (recheck.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from qianbiao.projects.models import DatasetProject

from .aggregation import CLASSIFICATION_METHODS
from .models import QualityPolicy


def policy_ensure(*, project: DatasetProject) -> QualityPolicy:
    policy, _ = QualityPolicy.objects.get_or_create(project=project)
    return policy


def policy_pin_method(*, project: DatasetProject, method: str) -> QualityPolicy:
    """Pin a consensus method (a project manager's override); "" un-pins."""
    if method and method not in CLASSIFICATION_METHODS:
        raise ValidationError({"pinned_method": f"unknown classification method {method!r}"})
    policy = policy_ensure(project=project)
    policy.pinned_method = method
    policy.save(update_fields=["pinned_method"])
    return policy
