"""/api/: version 1 of the REST API, its OpenAPI schema and its docs.

Swagger UI's assets come from drf-spectacular-sidecar, served by this server
(Redoc is left out: its page loads fonts from a CDN)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .views.callbacks import CallbackDeliveryListView, CallbackDetailView, CallbackListView
from .views.items import ItemsUploadView
from .views.projects import ProjectDetailView, ProjectListView
from .views.results import ProgressView, ResultsView

app_name = "api"

v1 = [
    path("projects/", ProjectListView.as_view(), name="projects"),
    path("projects/<int:project_id>/", ProjectDetailView.as_view(), name="project"),
    path("projects/<int:project_id>/items/", ItemsUploadView.as_view(), name="project-items"),
    path("projects/<int:project_id>/progress", ProgressView.as_view(), name="project-progress"),
    path("projects/<int:project_id>/results", ResultsView.as_view(), name="project-results"),
    path("callbacks/", CallbackListView.as_view(), name="callbacks"),
    path("callbacks/<int:callback_id>/", CallbackDetailView.as_view(), name="callback"),
    path(
        "callbacks/<int:callback_id>/deliveries/",
        CallbackDeliveryListView.as_view(),
        name="callback-deliveries",
    ),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
