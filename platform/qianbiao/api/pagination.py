from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Newest first, by id: stable under inserts, no COUNT(*). An invalid
    ``page_size`` is an error, not silently the default."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.getlist(self.page_size_query_param)
        if not raw:
            return self.page_size
        if len(raw) > 1 or not raw[0].isdigit() or not 1 <= int(raw[0]) <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        _("A whole number from 1 to %(max)d.") % {"max": self.max_page_size}
                    ]
                }
            )
        return int(raw[0])

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:  # DRF's answer to a bad cursor; it is a bad request
            cursor = False
        # DRF trusts the position inside a well-formed cursor; ours is always an id.
        if cursor is False or (
            cursor is not None and cursor.position is not None and not cursor.position.isdigit()
        ):
            raise ValidationError({self.cursor_query_param: [_("Invalid cursor.")]})
        return cursor

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        return parameters
