"""The Label Studio connection every labelling service opens when its caller passed none."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.conf import settings

from annotation.client import LabelStudioClient, connect


@contextlib.contextmanager
def label_studio_admin() -> Iterator[LabelStudioClient]:
    with connect(settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY) as client:
        yield client
