"""What every API view shares: the enterprise scope and the documented errors."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse
from rest_framework.generics import GenericAPIView

from .. import selectors
from ..serializers import ErrorSerializer

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid request"),
    401: OpenApiResponse(ErrorSerializer, description="No key, or an invalid or revoked key"),
    404: OpenApiResponse(ErrorSerializer, description="No such object for this enterprise"),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests for this key (see Retry-After)"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in (401, 429, *codes)}


def max_upload_bytes() -> int:
    return int(getattr(settings, "API_MAX_UPLOAD_BYTES", 256 << 20))


class EnterpriseView(GenericAPIView):
    """Base: every request acts for ``request.user.enterprise``."""

    pagination_class = None  # list views set it

    @property
    def enterprise(self):
        return self.request.user.enterprise

    def project(self, project_id: int):
        return selectors.project_for_enterprise(enterprise=self.enterprise, project_id=project_id)
