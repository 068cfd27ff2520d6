"""/api/: version 1 of the REST API, its OpenAPI schema and its docs.

Swagger UI's assets come from drf-spectacular-sidecar, served by this server
(Redoc is left out: its page loads fonts from a CDN)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

app_name = "api"

v1 = [
    path("projects/", views.ProjectListView.as_view(), name="projects"),
    path("projects/<int:project_id>/", views.ProjectDetailView.as_view(), name="project"),
    path("projects/<int:project_id>/items/", views.ItemsUploadView.as_view(), name="project-items"),
    path("projects/<int:project_id>/progress", views.ProgressView.as_view(), name="project-progress"),
    path("projects/<int:project_id>/results", views.ResultsView.as_view(), name="project-results"),
    path("callbacks/", views.CallbackListView.as_view(), name="callbacks"),
    path("callbacks/<int:callback_id>/", views.CallbackDetailView.as_view(), name="callback"),
    path(
        "callbacks/<int:callback_id>/deliveries/",
        views.CallbackDeliveryListView.as_view(),
        name="callback-deliveries",
    ),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
