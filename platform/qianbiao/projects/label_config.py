"""The seam through which a project's Label Studio label config is validated.

``label_config_validate`` checks what needs no Label Studio (size, well-formed
XML without DTDs, a ``<View>`` root with at least one named tag) and then calls
the validator named by ``settings.QIANBIAO_LABEL_CONFIG_VALIDATOR`` if one is
set — a dotted path to ``f(config: str) -> None`` raising ``ValidationError``.
The Label Studio adapter plugs its server-side check in there, so the projects
app never imports ``annotation`` itself. Project create and change
(projects.services) call it, for the API and the admin alike.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

MAX_LABEL_CONFIG_CHARS = 100_000


def label_config_validate(config: str) -> None:
    if not isinstance(config, str) or not config.strip():
        raise ValidationError(_("A label config is required."), code="required")
    if len(config) > MAX_LABEL_CONFIG_CHARS:
        raise ValidationError(
            _("A label config has at most %(n)d characters."), params={"n": MAX_LABEL_CONFIG_CHARS}
        )
    upper = config.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise ValidationError(_("A label config may not declare a DOCTYPE or entities."), code="dtd")
    try:
        root = ET.fromstring(config)
    except ET.ParseError as exc:
        raise ValidationError(
            _("The label config is not well-formed XML: %(reason)s"), params={"reason": str(exc)}
        ) from None
    if root.tag != "View":
        raise ValidationError(_("A label config's root element must be <View>."), code="root")
    if not any(element.get("name") for element in root.iter()):
        raise ValidationError(
            _("A label config needs at least one named tag (an object and a control)."), code="empty"
        )
    hook = getattr(settings, "QIANBIAO_LABEL_CONFIG_VALIDATOR", "")
    if hook:
        import_string(hook)(config)
