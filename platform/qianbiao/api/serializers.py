"""Input and output shapes of the REST API (thin: rules live in the services)."""

from __future__ import annotations

from rest_framework import serializers

from qianbiao.projects.models import DatasetProject, ProjectStatus
from qianbiao.projects.services import CLIENT_STATUSES
from qianbiao.quality.models import ResultMethod

from .ingest import CSV, JSON, JSONL
from .models import CallbackDelivery, CallbackEndpoint, CallbackEvent, DeliveryStatus
from .selectors import ACCEPTED, ALL, REJECTED


class StrictBooleanField(serializers.BooleanField):
    """true or false only (DRF also takes 1, "yes", "on"…)."""

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid", input=data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only (DRF also takes "5" and 5.0)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


PROJECT_SETTINGS = (
    "name",
    "domain",
    "task_type",
    "label_config",
    "overlap",
    "gold_ratio",
    "agreement_threshold",
    "min_grade",
    "min_skill_proficiency",
    "required_language",
    "min_language_proficiency",
    "daily_quota",
    "open_cap",
    "assignment_ttl_hours",
    "priority",
    "status",
    "deadline",
)


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetProject
        fields = ("id", *PROJECT_SETTINGS, "created_at")
        read_only_fields = fields


CLIENT_STATUS_CHOICES = [(s.value, s.label) for s in ProjectStatus if s in CLIENT_STATUSES]


class ProjectWriteSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(
        choices=CLIENT_STATUS_CHOICES,
        required=False,
        help_text="A client may set draft, active or paused; Qianbiao sets completed.",
    )

    class Meta:
        model = DatasetProject
        fields = PROJECT_SETTINGS

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if field_class is serializers.IntegerField:
            field_class = StrictIntegerField
        return field_class, kwargs


class ItemRowSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200, help_text="Your id; unique within the project.")
    data = serializers.DictField(help_text="What annotators see: keys as the label config's $variables.")
    is_gold = StrictBooleanField(required=False, default=False)
    gold_answer = serializers.JSONField(required=False, allow_null=True, help_text="Required when is_gold.")


class ItemsImportedSerializer(serializers.Serializer):
    project_id = serializers.IntegerField()
    imported = serializers.IntegerField()


class ResultsQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=[JSON, JSONL, CSV], default=JSON, required=False)
    since = serializers.DateTimeField(
        required=False,
        help_text="Only results changed after this instant: pass the X-Next-Since header of your last pull.",
    )
    status = serializers.ChoiceField(
        choices=[ACCEPTED, REJECTED, ALL],
        default=ACCEPTED,
        required=False,
        help_text="accepted (the default): results with a label; rejected: items a reviewer found "
        "cannot be labelled; all: both, told apart by each row's status.",
    )


class ResultRowSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    label = serializers.JSONField()
    method = serializers.ChoiceField(choices=ResultMethod.choices)
    agreement = serializers.FloatField(allow_null=True)
    annotations_used = serializers.IntegerField()
    decided_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    confidence = serializers.FloatField(
        allow_null=True,
        help_text="The consensus method's own probability for the label, 0 to 1 (classification); "
        "null where the method has none (overlap or text matching, gold, review).",
    )
    status = serializers.ChoiceField(
        choices=[ACCEPTED, REJECTED],
        help_text="rejected: a reviewer found the item cannot be labelled (label is empty).",
    )


class _ItemsProgress(serializers.Serializer):
    total = serializers.IntegerField(help_text="Ordinary (non-gold) items.")
    gold = serializers.IntegerField()
    remaining = serializers.IntegerField(help_text="Ordinary items without an accepted result.")
    by_state = serializers.DictField(child=serializers.IntegerField())


class _AssignmentsProgress(serializers.Serializer):
    by_state = serializers.DictField(child=serializers.IntegerField())


class _ResultsProgress(serializers.Serializer):
    total = serializers.IntegerField()
    by_method = serializers.DictField(child=serializers.IntegerField())


class _Agreement(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    measured = serializers.IntegerField(help_text="Results that have an agreement value.")
    threshold = serializers.FloatField()
    at_or_above_threshold = serializers.IntegerField()


class _Throughput(serializers.Serializer):
    results_per_hour = serializers.FloatField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()


class ProgressSerializer(serializers.Serializer):
    project_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ProjectStatus.choices)
    as_of = serializers.DateTimeField()
    items = _ItemsProgress()
    assignments = _AssignmentsProgress()
    results = _ResultsProgress()
    agreement = _Agreement()
    throughput = _Throughput()
    estimated_completion_at = serializers.DateTimeField(
        allow_null=True, help_text="At the recent pace; null while there is no pace to go by."
    )


class CallbackEndpointSerializer(serializers.ModelSerializer):
    is_active = StrictBooleanField(required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=CallbackEvent.choices), min_length=1, max_length=10
    )

    class Meta:
        model = CallbackEndpoint
        fields = ("id", "url", "events", "description", "is_active", "created_at")
        read_only_fields = ("id", "created_at")


class CallbackEndpointCreatedSerializer(CallbackEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The HMAC-SHA256 signing secret. Shown once: store it now."
    )

    class Meta(CallbackEndpointSerializer.Meta):
        fields = (*CallbackEndpointSerializer.Meta.fields, "secret")


class CallbackDeliverySerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)

    class Meta:
        model = CallbackDelivery
        fields = (
            "id",
            "event",
            "project",
            "payload",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        )
        read_only_fields = fields


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(required=False, child=serializers.JSONField())
    rows = serializers.ListField(required=False, child=serializers.DictField())
    truncated = serializers.BooleanField(required=False)
    retry_after = serializers.IntegerField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
