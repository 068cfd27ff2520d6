from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "qianbiao.projects"
    label = "projects"
    verbose_name = _("Dataset projects")

    def ready(self) -> None:
        from . import receivers

        receivers.connect()
