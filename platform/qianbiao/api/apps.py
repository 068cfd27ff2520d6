from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "qianbiao.api"
    label = "api"
    verbose_name = _("REST API")

    def ready(self) -> None:
        # drf-spectacular finds extensions by import: register the API-key scheme.
        from qianbiao.api import authentication  # noqa: F401
