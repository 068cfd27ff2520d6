"""Programme structure: prefectures, parks, graded facilities, headcount targets."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

PROVINCE_CODE = "520000"
PROVINCE_NAME = "贵州省"


class Grade(models.TextChoices):
    L1 = "L1", "L1"
    L2 = "L2", "L2"
    L3 = "L3", "L3"
    L4 = "L4", "L4"
    L5 = "L5", "L5"


def grade_rank(grade: str) -> int:
    return int(grade[1:])


class GradeRubric(models.Model):
    """What a facility must have to hold a grade. No national L1–L5 standard was
    found, so the rubric is data a project manager can change, not code."""

    grade = models.CharField(_("grade"), max_length=2, choices=Grade.choices, unique=True)
    min_seats = models.PositiveIntegerField(_("minimum seats"), default=0)
    requires_physical_security = models.BooleanField(_("requires physical security"), default=False)
    requires_network_isolation = models.BooleanField(_("requires network isolation"), default=False)
    requires_security_certification = models.BooleanField(
        _("requires data-security certification"), default=False
    )
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("grade rubric")
        verbose_name_plural = _("grade rubrics")
        ordering = ["grade"]

    def __str__(self) -> str:
        return self.grade

    def shortfalls(self, facility: Facility) -> list[str]:
        missing: list[str] = []
        if facility.seats < self.min_seats:
            missing.append(str(_("at least %(n)d seats") % {"n": self.min_seats}))
        if self.requires_physical_security and not facility.physical_security:
            missing.append(str(_("physical security")))
        if self.requires_network_isolation and not facility.network_isolated:
            missing.append(str(_("network isolation")))
        if self.requires_security_certification and not facility.security_certification:
            missing.append(str(_("a data-security certification")))
        return missing


class Region(models.Model):
    """A prefecture-level division (地市州) of Guizhou, or 贵安新区."""

    code = models.CharField(
        _("code"),
        max_length=6,
        unique=True,
        validators=[RegexValidator(r"^\d{6}$", _("A region code has six digits."))],
        help_text=_("GB/T 2260 code; an internal code where none exists (贵安新区)."),
    )
    name = models.CharField(_("name"), max_length=64, unique=True)
    short_name = models.CharField(_("short name"), max_length=16, blank=True)
    has_official_code = models.BooleanField(_("official GB/T 2260 code"), default=True)
    is_autonomous = models.BooleanField(_("minority autonomous prefecture"), default=False)
    specialisation = models.CharField(_("specialisation"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("prefecture")
        verbose_name_plural = _("prefectures")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Park(models.Model):
    """A digital-intelligence industrial park (数智产业园) or annotation base."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128)
    region = models.ForeignKey(
        Region, verbose_name=_("prefecture"), on_delete=models.PROTECT, related_name="parks"
    )
    is_provincial = models.BooleanField(_("provincial digital-intelligence park"), default=False)
    name_confirmed = models.BooleanField(
        _("name confirmed"),
        default=True,
        help_text=_("Unchecked where public reporting does not confirm the name."),
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("park")
        verbose_name_plural = _("parks")
        ordering = ["region__code", "code"]

    def __str__(self) -> str:
        return self.name


class Facility(models.Model):
    """A graded annotation facility (数据标注厂房/基地)."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128)
    region = models.ForeignKey(
        Region, verbose_name=_("prefecture"), on_delete=models.PROTECT, related_name="facilities"
    )
    park = models.ForeignKey(
        Park,
        verbose_name=_("park"),
        on_delete=models.PROTECT,
        related_name="facilities",
        null=True,
        blank=True,
    )
    operator = models.ForeignKey(
        "enterprises.Enterprise",
        verbose_name=_("operator"),
        on_delete=models.PROTECT,
        related_name="operated_facilities",
        null=True,
        blank=True,
    )
    grade = models.CharField(_("grade"), max_length=2, choices=Grade.choices)
    seats = models.PositiveIntegerField(_("seats"))
    physical_security = models.BooleanField(_("physical security"), default=False)
    network_isolated = models.BooleanField(_("network isolation"), default=False)
    security_certification = models.CharField(_("data-security certification"), max_length=128, blank=True)
    opened_on = models.DateField(_("opened on"), null=True, blank=True)

    class Meta:
        verbose_name = _("facility")
        verbose_name_plural = _("facilities")
        ordering = ["region__code", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(grade__in=Grade.values), name="facility_grade_l1_to_l5"),
        ]
        indexes = [models.Index(fields=["grade"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.grade})"

    @property
    def grade_rank(self) -> int:
        return grade_rank(self.grade)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.park_id and self.region_id and self.park.region_id != self.region_id:
            errors.setdefault("park", []).append(
                str(_("The park is in another prefecture than the facility."))
            )
        if self.grade in Grade.values:
            rubric = GradeRubric.objects.filter(grade=self.grade).first()
            missing = rubric.shortfalls(self) if rubric else []
            if missing:
                errors.setdefault("grade", []).append(
                    str(
                        _("Grade %(grade)s requires %(missing)s.")
                        % {"grade": self.grade, "missing": ", ".join(missing)}
                    )
                )
        if errors:
            raise ValidationError(errors)


class TargetScope(models.TextChoices):
    PROVINCE = "province", _("Province")
    REGION = "region", _("Prefecture")
    PARK = "park", _("Park")
    FACILITY = "facility", _("Facility")


class TargetKind(models.TextChoices):
    TARGET = "target", _("Target")
    BASELINE = "baseline", _("Reported baseline")


class HeadcountTarget(models.Model):
    """A headcount figure for a year: the target, or a reported baseline."""

    scope = models.CharField(_("scope"), max_length=16, choices=TargetScope.choices)
    region = models.ForeignKey(
        Region, verbose_name=_("prefecture"), on_delete=models.CASCADE, null=True, blank=True
    )
    park = models.ForeignKey(Park, verbose_name=_("park"), on_delete=models.CASCADE, null=True, blank=True)
    facility = models.ForeignKey(
        Facility, verbose_name=_("facility"), on_delete=models.CASCADE, null=True, blank=True
    )
    year = models.PositiveSmallIntegerField(_("year"))
    kind = models.CharField(_("kind"), max_length=16, choices=TargetKind.choices, default=TargetKind.TARGET)
    number = models.PositiveIntegerField(_("number of people"))
    source = models.CharField(_("source"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("headcount target")
        verbose_name_plural = _("headcount targets")
        ordering = ["year", "scope"]
        constraints = [
            models.CheckConstraint(
                name="target_unit_matches_scope",
                condition=(
                    Q(scope="province", region__isnull=True, park__isnull=True, facility__isnull=True)
                    | Q(scope="region", region__isnull=False, park__isnull=True, facility__isnull=True)
                    | Q(scope="park", region__isnull=True, park__isnull=False, facility__isnull=True)
                    | Q(scope="facility", region__isnull=True, park__isnull=True, facility__isnull=False)
                ),
            ),
            models.UniqueConstraint(
                fields=["year", "kind"], condition=Q(scope="province"), name="one_province_target"
            ),
            models.UniqueConstraint(
                fields=["region", "year", "kind"], condition=Q(scope="region"), name="one_region_target"
            ),
            models.UniqueConstraint(
                fields=["park", "year", "kind"], condition=Q(scope="park"), name="one_park_target"
            ),
            models.UniqueConstraint(
                fields=["facility", "year", "kind"],
                condition=Q(scope="facility"),
                name="one_facility_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} {self.unit_name} {self.year}: {self.number}"

    @property
    def unit_name(self) -> str:
        unit = self.region or self.park or self.facility
        return unit.name if unit else PROVINCE_NAME

    def clean(self) -> None:
        required = {"region": self.region_id, "park": self.park_id, "facility": self.facility_id}
        errors = {}
        for field, value in required.items():
            if field == self.scope and not value:
                errors[field] = _("Required for this scope.")
            elif field != self.scope and value:
                errors[field] = _("Leave empty for this scope.")
        if errors:
            raise ValidationError(errors)
