"""Admin for API keys (issued here, shown once), callback endpoints and deliveries."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .keys import api_key_issue, api_key_revoke
from .models import ApiKey, CallbackDelivery, CallbackEndpoint, DeliveryStatus


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "enterprise", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "enterprise__name", "enterprise__credit_code")
    list_select_related = ("enterprise",)
    actions = ("revoke",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("enterprise", "name")
        return ("enterprise", "name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("enterprise", "prefix", "created_at", "created_by", "last_used_at", "revoked_at")

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record of a key outlives it

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = api_key_issue(enterprise=obj.enterprise, name=obj.name, created_by=request.user)
        obj.pk = issued.api_key.pk
        obj.prefix = issued.api_key.prefix
        request._issued_api_key = issued.plaintext  # shown by response_add, then gone

    def response_add(self, request, obj, post_url_continue=None):
        plaintext = getattr(request, "_issued_api_key", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "api_key": obj,
            "plaintext": plaintext,
            "title": _("API key issued"),
        }
        response = TemplateResponse(request, "admin/api/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:

            class IssueForm(form):
                def clean(self):
                    cleaned = super().clean()
                    enterprise, name = cleaned.get("enterprise"), (cleaned.get("name") or "").strip()
                    if (
                        enterprise
                        and name
                        and ApiKey.objects.filter(
                            enterprise=enterprise, name=name, revoked_at__isnull=True
                        ).exists()
                    ):
                        raise ValidationError(
                            {"name": _("This enterprise already has a live key with this name.")}
                        )
                    return cleaned

            return IssueForm
        return form

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
            count += 1
        self.message_user(request, _("%(n)d key(s) revoked.") % {"n": count}, messages.SUCCESS)


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "enterprise", "events", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "enterprise__name", "enterprise__credit_code")
    list_select_related = ("enterprise",)
    fields = ("enterprise", "url", "events", "description", "is_active", "created_at")
    readonly_fields = ("enterprise", "url", "events", "created_at")

    def has_add_permission(self, request):
        return False  # enterprises register endpoints over the API (the secret is theirs)


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "event",
        "endpoint",
        "project",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    )
    list_filter = ("status", "event")
    list_select_related = ("endpoint", "project")
    readonly_fields = [f.name for f in CallbackDelivery._meta.fields]
    actions = ("retry_now",)

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Retry now"), permissions=["change"])
    def retry_now(self, request, queryset):
        from workers import enqueue

        ids = list(queryset.exclude(status=DeliveryStatus.SUCCEEDED).values_list("pk", flat=True))
        CallbackDelivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now()
        )
        enqueue.callback_deliver(ids)
        self.message_user(request, _("%(n)d deliveries queued.") % {"n": len(ids)}, messages.SUCCESS)
