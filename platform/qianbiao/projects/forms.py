"""The admin's dataset-project form: the rules of projects.services, shown on
the fields they concern, so that the admin saves no project the API refuses."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import DatasetProject
from .services import project_changes, project_errors

# The settings a form may write: every editable column but the id.
PROJECT_FIELDS = tuple(
    field.name for field in DatasetProject._meta.concrete_fields if field.editable and not field.primary_key
)


def project_settings(form: forms.BaseForm) -> dict[str, Any]:
    """The form's valid values of project settings (a changelist row's form has only some)."""
    return {name: value for name, value in form.cleaned_data.items() if name in PROJECT_FIELDS}


class DatasetProjectForm(forms.ModelForm):
    class Meta:
        model = DatasetProject
        fields = PROJECT_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        data = project_settings(self)
        if self.instance.pk is None:
            errors = project_errors(project=None, data=data)
        else:
            # Until _post_clean, self.instance still holds the stored values.
            changes = project_changes(project=self.instance, data=data)
            errors = project_errors(project=self.instance, data=changes, may_complete=True)
        for field, messages in errors.items():
            if field not in self.errors:  # a field's own error says enough
                self.add_error(field if field in self.fields else None, messages)
        return cleaned
