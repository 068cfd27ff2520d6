"""Errors the Label Studio adapter raises (never the SDK's own exceptions)."""

from __future__ import annotations

from typing import Any


class LabelStudioError(Exception):
    """Label Studio answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class LabelStudioNotFound(LabelStudioError):
    """The object does not exist in Label Studio (or this user may not see it)."""


class LabelConfigError(LabelStudioError):
    """Label Studio itself rejected a label config; ``messages`` are its words."""

    def __init__(self, messages: list[str], status: int | None = 400) -> None:
        self.messages = list(messages)
        super().__init__("invalid label config: " + "; ".join(self.messages), status, self.messages)


class WebhookAuthError(LabelStudioError):
    """A webhook delivery did not carry our secret header."""
