"""A connection to one Label Studio server as one user (an admin, or an annotator as themself).

Most calls go through label_studio_sdk; the few endpoints the SDK does not cover (config
validation, filtered task lists, /next, export by task ids, signup) go through the same
connection pool with the same authentication headers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from annotation.errors import LabelStudioError, LabelStudioNotFound
from annotation.types import Account

DEFAULT_TIMEOUT = 120.0


def error_message(body: Any) -> str:
    """Label Studio's own words from an error body (DRF details or its validation errors)."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return body.strip()[:500]
    if isinstance(body, dict):
        errors = body.get("validation_errors") or {
            key: value
            for key, value in body.items()
            if key not in {"id", "status_code", "version", "exc_info"}
        }
        parts = []
        for key, value in errors.items():
            if key == "detail" and body.get("validation_errors"):
                continue
            values = value if isinstance(value, list) else [value]
            parts.append(f"{key}: " + "; ".join(str(v) for v in values))
        return "; ".join(parts) or str(body.get("detail", body))[:500]
    return str(body)[:500]


def http_client(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """An httpx client for a Label Studio at ``url``. Certificates are loaded only for
    https: building the TLS context costs ~60 ms per client, and plain-http servers (the
    local one, a compose network) never use it."""
    return httpx.Client(
        base_url=url.rstrip("/"), timeout=timeout, follow_redirects=False, verify=url.startswith("https:")
    )


class LabelStudioClient:
    """One user's connection to a Label Studio server. Close it (or use ``with``) when done."""

    def __init__(self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._http = http_client(self.url, timeout=timeout)
        # max_retries=0: a retried POST could duplicate tasks or annotations; callers retry
        # idempotently instead (see annotation.tasks.push_tasks).
        self.sdk = LabelStudio(base_url=self.url, api_key=token, httpx_client=self._http, max_retries=0)

    def __repr__(self) -> str:
        return f"LabelStudioClient({self.url!r})"

    @property
    def token(self) -> str:
        return self._token

    def _auth_headers(self) -> dict[str, str]:
        # The SDK knows both kinds of token (legacy "Token …", JWT personal access tokens
        # refreshed into "Bearer …"); reuse its choice so raw calls authenticate the same way.
        headers = self.sdk._client_wrapper.get_headers()
        return {"Authorization": headers["Authorization"]} if "Authorization" in headers else {}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        expect: tuple[int, ...] = (200, 201, 204),
        timeout: float | None = None,
    ) -> httpx.Response:
        """A raw call; a status outside ``expect`` raises :class:`LabelStudioError`."""
        kwargs: dict[str, Any] = {"params": params, "json": json, "headers": self._auth_headers()}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise LabelStudioError(f"{method} {path}: {error}") from error
        if response.status_code not in expect:
            raise_for_status(response.status_code, response.content, f"{method} {path}")
        return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def whoami(self) -> Account:
        me = self.get_json("/api/current-user/whoami")
        return Account(id=me["id"], email=me.get("email") or "", username=me.get("username") or "")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def raise_for_status(status: int | None, body: Any, what: str) -> None:
    message = f"{what}: HTTP {status}: {error_message(body)}"
    if status == 404:
        raise LabelStudioNotFound(message, status, body)
    raise LabelStudioError(message, status, body)


@contextlib.contextmanager
def sdk_errors(what: str) -> Iterator[None]:
    """Turns the SDK's exceptions into ours."""
    try:
        yield
    except ApiError as error:
        raise_for_status(error.status_code, error.body, what)
    except httpx.HTTPError as error:
        raise LabelStudioError(f"{what}: {error}") from error


def connect(url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> LabelStudioClient:
    """A client for ``url`` acting as the owner of ``token``."""
    return LabelStudioClient(url, token, timeout=timeout)
