"""The enterprise's dataset projects: list, create, read, change."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from qianbiao.projects import services as project_services

from .. import selectors
from ..pagination import IdCursorPagination
from ..serializers import ProjectSerializer, ProjectWriteSerializer
from .base import ERRORS, EnterpriseView, _errors


class ProjectListView(EnterpriseView):
    """The enterprise's dataset projects, newest first."""

    serializer_class = ProjectSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):
        return selectors.projects_for_enterprise(enterprise=self.enterprise)

    @extend_schema(
        operation_id="projects_list", responses={200: ProjectSerializer(many=True), **_errors(400)}
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProjectSerializer(page, many=True).data)

    @extend_schema(
        operation_id="projects_create",
        request=ProjectWriteSerializer,
        responses={201: ProjectSerializer, 403: ERRORS[400], **_errors(400)},
        description="Create a dataset project. Every setting is validated, the label config too.",
    )
    def post(self, request):
        serializer = ProjectWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_services.project_create(enterprise=self.enterprise, data=serializer.validated_data)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(EnterpriseView):
    """One of the enterprise's dataset projects."""

    serializer_class = ProjectSerializer
    http_method_names = ["get", "patch", "head"]

    @extend_schema(operation_id="projects_retrieve", responses={200: ProjectSerializer, **_errors(404)})
    def get(self, request, project_id: int):
        return Response(ProjectSerializer(self.project(project_id)).data)

    @extend_schema(
        operation_id="projects_partial_update",
        request=ProjectWriteSerializer,
        responses={200: ProjectSerializer, **_errors(400, 404)},
        description="Change some settings. Task type, label config and overlap are fixed once work "
        "has been assigned; a completed project cannot be reopened.",
    )
    def patch(self, request, project_id: int):
        project = self.project(project_id)
        serializer = ProjectWriteSerializer(project, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = project_services.project_update(project=project, data=serializer.validated_data)
        return Response(ProjectSerializer(project).data)
