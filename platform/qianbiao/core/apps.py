from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "qianbiao.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from qianbiao.core.roles import roles_on_post_migrate

        post_migrate.connect(roles_on_post_migrate, dispatch_uid="qianbiao.core.roles")
