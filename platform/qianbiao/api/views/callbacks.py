"""The enterprise's callback endpoints and what was delivered to them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from .. import callbacks as callback_services
from .. import selectors
from ..pagination import IdCursorPagination
from ..serializers import (
    CallbackDeliverySerializer,
    CallbackEndpointCreatedSerializer,
    CallbackEndpointSerializer,
)
from .base import EnterpriseView, _errors

CALLBACKS_DESCRIPTION = """Register a URL to be told when something happens:

* `project.completed` — every item of a project has an accepted result;
* `results.ready` — results changed since the last such event (pull them from
  `data.results_url`).

Qianbiao POSTs `{"id", "event", "created_at", "data"}` as JSON with the headers
`X-Qianbiao-Event`, `X-Qianbiao-Delivery` (the `id`) and
`X-Qianbiao-Signature: t=<unix time>,v1=<hex>`, where `v1` is
HMAC-SHA256(secret, `"<t>." + raw body`) in hexadecimal. Verify it over the raw
bytes, compare in constant time and refuse a `t` more than 5 minutes off. The
secret is in this answer only: store it. Answer 2xx within 10 seconds; anything
else is retried with exponential backoff (30 s doubling up to 6 h, 12 attempts,
about 20 hours). Delivery is at least once: drop repeats by `id`. Redirects are
not followed."""


class CallbackListView(EnterpriseView):
    """The enterprise's callback endpoints."""

    serializer_class = CallbackEndpointSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):
        return selectors.callback_endpoints_for_enterprise(enterprise=self.enterprise)

    @extend_schema(
        operation_id="callbacks_list",
        responses={200: CallbackEndpointSerializer(many=True), **_errors(400)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CallbackEndpointSerializer(page, many=True).data)

    @extend_schema(
        operation_id="callbacks_create",
        request=CallbackEndpointSerializer,
        responses={201: CallbackEndpointCreatedSerializer, **_errors(400)},
        description=CALLBACKS_DESCRIPTION,
    )
    def post(self, request):
        serializer = CallbackEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = callback_services.callback_endpoint_create(
            enterprise=self.enterprise,
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
        )
        body = CallbackEndpointCreatedSerializer(endpoint).data
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)


class CallbackDetailView(EnterpriseView):
    """One callback endpoint."""

    serializer_class = CallbackEndpointSerializer
    http_method_names = ["get", "patch", "delete", "head"]

    def endpoint(self, callback_id: int):
        return selectors.callback_endpoint_for_enterprise(enterprise=self.enterprise, callback_id=callback_id)

    @extend_schema(
        operation_id="callbacks_retrieve", responses={200: CallbackEndpointSerializer, **_errors(404)}
    )
    def get(self, request, callback_id: int):
        return Response(CallbackEndpointSerializer(self.endpoint(callback_id)).data)

    @extend_schema(
        operation_id="callbacks_partial_update",
        request=CallbackEndpointSerializer,
        responses={200: CallbackEndpointSerializer, **_errors(400, 404)},
    )
    def patch(self, request, callback_id: int):
        endpoint = self.endpoint(callback_id)
        serializer = CallbackEndpointSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = callback_services.callback_endpoint_update(
            endpoint=endpoint, data=serializer.validated_data
        )
        return Response(CallbackEndpointSerializer(endpoint).data)

    @extend_schema(operation_id="callbacks_destroy", responses={204: None, **_errors(404)})
    def delete(self, request, callback_id: int):
        callback_services.callback_endpoint_delete(endpoint=self.endpoint(callback_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CallbackDeliveryListView(EnterpriseView):
    """What was sent to an endpoint, newest first, with each delivery's attempts."""

    serializer_class = CallbackDeliverySerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        operation_id="callbacks_deliveries_list",
        responses={200: CallbackDeliverySerializer(many=True), **_errors(400, 404)},
    )
    def get(self, request, callback_id: int):
        endpoint = selectors.callback_endpoint_for_enterprise(
            enterprise=self.enterprise, callback_id=callback_id
        )
        page = self.paginate_queryset(selectors.callback_deliveries(endpoint=endpoint))
        return self.get_paginated_response(CallbackDeliverySerializer(page, many=True).data)
