from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import translate_url

register = template.Library()

# Labels in their own language, so that each reads to the person who needs it.
_NATIVE = {"zh-hans": "中文", "en": "English"}


@register.simple_tag(takes_context=True)
def language_links(context) -> list[tuple[str, str, str]]:
    """(code, label, url) of this page in each language. The language lives in
    the path (/en/… or none), so a plain link switches it: no form, no CSRF
    token, and a page is the same for every project manager (cacheable)."""
    path = context["request"].get_full_path()
    return [
        (code, _NATIVE.get(code, str(name)), translate_url(path, code)) for code, name in settings.LANGUAGES
    ]


@register.filter
def can_open_dashboards(user) -> bool:
    from qianbiao.core.roles import user_is_project_manager

    return user_is_project_manager(user)
