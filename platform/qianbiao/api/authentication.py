"""``Authorization: Token <key>`` with enterprise API keys."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from qianbiao.enterprises.models import Enterprise

from .keys import api_key_authenticate
from .models import ApiKey


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling: an enterprise, through one of its keys (``request.user``)."""

    enterprise: Enterprise
    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True

    @property
    def pk(self) -> int:  # for code that logs request.user.pk
        return self.api_key.pk

    def __str__(self) -> str:
        return f"{self.enterprise.credit_code}/{self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        # Read as text: WSGI gives headers as latin-1 strings, a test client anything.
        parts = str(request.META.get("HTTP_AUTHORIZATION", "")).split()
        if not parts or parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as “Authorization: Token <key>”."))
        plaintext = parts[1]
        if not plaintext.isascii():
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        api_key = api_key_authenticate(plaintext=plaintext)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        return ApiPrincipal(enterprise=api_key.enterprise, api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "qianbiao.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` — keys are issued per enterprise by a project manager.",
        }
