from django.urls import path

from . import views

app_name = "dashboards"

urlpatterns = [
    path("", views.province, name="province"),
    path("region/<str:code>/", views.region, name="region"),
    path("park/<slug:code>/", views.park, name="park"),
    path("facility/<slug:code>/", views.facility, name="facility"),
    path("work/", views.work, name="work"),
    path("programme/", views.programme, name="programme"),
    path("about/", views.about, name="about"),
]
