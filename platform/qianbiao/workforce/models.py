"""The annotation workforce: annotators, their skills, languages and employment history."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from qianbiao.core.crypto import EncryptedTextField, mask_id_card, mask_phone


class SkillLevel(models.IntegerChoices):
    """人工智能训练师 national skill standard (4-04-05-05): 五级 is the entry level."""

    LEVEL_5 = 5, _("Level 5 / junior (五级/初级工)")
    LEVEL_4 = 4, _("Level 4 / intermediate (四级/中级工)")
    LEVEL_3 = 3, _("Level 3 / senior (三级/高级工)")
    LEVEL_2 = 2, _("Level 2 / technician (二级/技师)")
    LEVEL_1 = 1, _("Level 1 / senior technician (一级/高级技师)")


class TaskType(models.TextChoices):
    TEXT_CLASSIFICATION = "text_classification", _("Text classification")
    NAMED_ENTITIES = "named_entities", _("Named entities")
    BOUNDING_BOX = "bounding_box", _("Image bounding boxes")
    POLYGON = "polygon", _("Image polygons")
    TRANSCRIPTION = "transcription", _("Speech transcription")
    VIDEO_TRACKING = "video_tracking", _("Video object tracking")


class SkillProficiency(models.IntegerChoices):
    BASIC = 1, _("Basic")
    PROFICIENT = 2, _("Proficient")
    EXPERT = 3, _("Expert")


class LanguageProficiency(models.IntegerChoices):
    WORKING = 1, _("Working")
    FLUENT = 2, _("Fluent")
    NATIVE = 3, _("Native")


class Verification(models.TextChoices):
    SELF_DECLARED = "self_declared", _("Self-declared")
    TEST = "test", _("Passed a test")
    CERTIFICATE = "certificate", _("Certificate")


class AnnotatorStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("annotator status", "Active")
    SUSPENDED = "suspended", _("Suspended")
    LEFT = "left", _("Left")


class Language(models.Model):
    """A language annotators work in, by ISO 639-3 code. Data, not code, because
    some codes for Guizhou's minority languages are unconfirmed."""

    code = models.CharField(
        _("ISO 639-3 code"),
        max_length=3,
        primary_key=True,
        validators=[RegexValidator(r"^[a-z]{3}$", _("An ISO 639-3 code is three lowercase letters."))],
    )
    name = models.CharField(_("name"), max_length=64)
    english_name = models.CharField(_("English name"), max_length=64)
    is_minority = models.BooleanField(_("minority language"), default=True)
    code_confirmed = models.BooleanField(_("code confirmed"), default=True)

    class Meta:
        verbose_name = _("language")
        verbose_name_plural = _("languages")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Annotator(models.Model):
    code = models.CharField(_("annotator number"), max_length=32, unique=True)
    name = models.CharField(pgettext_lazy("person", "name"), max_length=64)
    id_card_number = EncryptedTextField(_("resident ID-card number"))
    id_card_digest = models.CharField(max_length=64, unique=True, editable=False)
    phone = EncryptedTextField(_("mobile phone"), blank=True)
    employer = models.ForeignKey(
        "enterprises.Enterprise",
        verbose_name=_("employer"),
        on_delete=models.PROTECT,
        related_name="annotators",
    )
    facility = models.ForeignKey(
        "programme.Facility",
        verbose_name=_("facility"),
        on_delete=models.PROTECT,
        related_name="annotators",
    )
    skill_level = models.PositiveSmallIntegerField(
        _("skill level"), choices=SkillLevel.choices, default=SkillLevel.LEVEL_5
    )
    status = models.CharField(
        _("status"), max_length=16, choices=AnnotatorStatus.choices, default=AnnotatorStatus.ACTIVE
    )
    is_reviewer = models.BooleanField(_("reviewer"), default=False)
    is_synthetic = models.BooleanField(_("synthetic"), default=False, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("annotator")
        verbose_name_plural = _("annotators")
        ordering = ["code"]
        indexes = [models.Index(fields=["status", "facility"])]
        permissions = [("view_personal_data", _("Can reveal unmasked personal data"))]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def id_card_masked(self) -> str:
        return mask_id_card(self.id_card_number)

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)


class AnnotatorSkill(models.Model):
    annotator = models.ForeignKey(
        Annotator, verbose_name=_("annotator"), on_delete=models.CASCADE, related_name="skills"
    )
    task_type = models.CharField(_("task type"), max_length=32, choices=TaskType.choices)
    proficiency = models.PositiveSmallIntegerField(
        _("proficiency"), choices=SkillProficiency.choices, default=SkillProficiency.BASIC
    )

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        constraints = [
            models.UniqueConstraint(fields=["annotator", "task_type"], name="one_skill_per_task_type")
        ]
        indexes = [models.Index(fields=["task_type", "proficiency"])]

    def __str__(self) -> str:
        return f"{self.get_task_type_display()} ({self.get_proficiency_display()})"


class AnnotatorLanguage(models.Model):
    annotator = models.ForeignKey(
        Annotator, verbose_name=_("annotator"), on_delete=models.CASCADE, related_name="languages"
    )
    language = models.ForeignKey(Language, verbose_name=_("language"), on_delete=models.PROTECT)
    proficiency = models.PositiveSmallIntegerField(_("proficiency"), choices=LanguageProficiency.choices)
    verification = models.CharField(
        _("verified by"),
        max_length=16,
        choices=Verification.choices,
        default=Verification.SELF_DECLARED,
    )
    verified_on = models.DateField(_("verified on"), null=True, blank=True)

    class Meta:
        verbose_name = _("language skill")
        verbose_name_plural = _("language skills")
        constraints = [
            models.UniqueConstraint(fields=["annotator", "language"], name="one_entry_per_language")
        ]
        indexes = [models.Index(fields=["language", "proficiency"])]

    def __str__(self) -> str:
        return f"{self.language_id} ({self.get_proficiency_display()})"


class Employment(models.Model):
    """One continuous spell of an annotator at one facility and employer.

    Headcount on any past day is the number of spells covering that day, so a
    transfer closes one spell and opens the next instead of editing history.
    ``ended_on`` is the last day employed (inclusive)."""

    annotator = models.ForeignKey(
        Annotator, verbose_name=_("annotator"), on_delete=models.CASCADE, related_name="employment"
    )
    employer = models.ForeignKey(
        "enterprises.Enterprise", verbose_name=_("employer"), on_delete=models.PROTECT
    )
    facility = models.ForeignKey(
        "programme.Facility",
        verbose_name=_("facility"),
        on_delete=models.PROTECT,
        related_name="employment",
    )
    started_on = models.DateField(_("started on"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    end_reason = models.CharField(_("reason for ending"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("employment spell")
        verbose_name_plural = _("employment history")
        ordering = ["annotator", "started_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="employment_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["annotator"], condition=Q(ended_on__isnull=True), name="one_open_employment"
            ),
        ]
        indexes = [models.Index(fields=["facility", "started_on", "ended_on"])]

    def __str__(self) -> str:
        return f"{self.annotator_id} @ {self.facility_id} {self.started_on}–{self.ended_on or ''}"


class PersonalDataAccess(models.Model):
    """Who saw an annotator's unmasked personal data, and when (PIPL)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT)
    # PROTECT: deleting an annotator must not erase the audit trail of who saw their data.
    annotator = models.ForeignKey(Annotator, verbose_name=_("annotator"), on_delete=models.PROTECT)
    fields = models.CharField(_("fields"), max_length=64)
    seen_at = models.DateTimeField(_("seen at"), auto_now_add=True)

    class Meta:
        verbose_name = _("personal-data access")
        verbose_name_plural = _("personal-data access log")
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.user} → {self.annotator_id} ({self.fields})"
