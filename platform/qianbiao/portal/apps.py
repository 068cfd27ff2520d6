from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "qianbiao.portal"
    label = "portal"
    verbose_name = _("Annotator portal")

    def ready(self) -> None:
        from . import receivers

        receivers.connect()
        post_migrate.connect(receivers.grant_project_managers, dispatch_uid="portal.grant_project_managers")
