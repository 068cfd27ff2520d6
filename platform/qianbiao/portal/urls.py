from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.my_work, name="my-work"),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.portal_logout, name="logout"),
    path("activate/", views.activate, name="activate"),
    path("projects/<int:project_id>/start/", views.start_labelling, name="start"),
]

# Reached without an annotator session; every other view is annotator_required.
PUBLIC_VIEWS = frozenset({"login", "logout", "activate"})
