from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class DashboardsConfig(AppConfig):
    name = "qianbiao.dashboards"
    label = "dashboards"
    verbose_name = _("Dashboards")

    def ready(self) -> None:
        from qianbiao.enterprises.models import Enterprise
        from qianbiao.programme.models import Facility, HeadcountTarget, Park, Region
        from qianbiao.workforce.models import Language

        from .cache import reference_changed

        # What the cached pages show besides snapshots (see dashboards.cache).
        for model in (HeadcountTarget, Region, Park, Facility, Enterprise, Language):
            for signal in (post_save, post_delete):
                signal.connect(reference_changed, sender=model, dispatch_uid=f"dashboards-{model.__name__}")
