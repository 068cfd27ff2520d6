from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProgrammeConfig(AppConfig):
    name = "qianbiao.programme"
    label = "programme"
    verbose_name = _("Programme structure")
