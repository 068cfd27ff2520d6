from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.generic import RedirectView

from qianbiao.labelling.views import label_studio_webhook


def health(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("health", health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("qianbiao.api.urls")),
    # Label Studio posts annotation webhooks here (secret header; outside i18n).
    path("hooks/label-studio/", label_studio_webhook, name="label-studio-webhook"),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
urlpatterns += i18n_patterns(
    path("admin/", admin.site.urls),
    path("dashboards/", include("qianbiao.dashboards.urls")),
    # The annotators' own pages (我的任务).
    path("work/", include("qianbiao.portal.urls")),
    prefix_default_language=False,
)

# JSON errors under /api/, Django's pages elsewhere.
handler404 = "qianbiao.api.errors.not_found"
handler500 = "qianbiao.api.errors.server_error"
