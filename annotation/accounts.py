"""Annotator accounts in Label Studio: provisioning, per-user tokens, deactivation.

Two ways in, both idempotent (the email is the key: use a pseudonymous one, never the
annotator's real address — Label Studio shows it to every member of the organisation):

* :func:`provision_accounts` (admin API: ``POST /api/users/`` + ``PATCH active_organization``)
  creates accounts in bulk, about 0.2 s each. Such accounts have **no password and no
  token anyone can read** (an admin cannot read another user's token over the API), so they
  can be named as ``completed_by`` but cannot act themselves.
* :func:`register_annotator` (the invite-link signup form, then ``/api/current-user/token``)
  creates an account that can act as itself: it returns the user's own API token, about
  0.6 s each (the password hash dominates). Run again, it logs in with the same password
  and returns the same token (tests, benches and the audit's throw-away annotator).
* :func:`sign_up_annotator` is the path for Qianbiao's annotators: the same sign-up with a
  random password that is never kept, so nobody knows it and the only way in is the
  hand-off (``/qianbiao/handoff/``, which logs the user in by id). Run again for an email
  already registered (a retry after a crash), it finds the account through the admin.

Deactivation (:func:`deactivate_account`) is the OSS organisation-membership soft delete:
the token still authenticates, but the user sees no project, task or queue any more.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

import httpx

from annotation.client import LabelStudioClient, http_client, raise_for_status
from annotation.errors import LabelStudioError, LabelStudioNotFound
from annotation.types import Account, AccountSpec, AnnotatorLogin

_FIELD_ERRORS = re.compile(r'<ul class="[^"]*errors?[^"]*">(.*?)</ul>', re.S | re.I)
_ITEM = re.compile(r"<li>\s*([^<]+?)\s*</li>")


def _account(user: dict, created: bool = False) -> Account:
    return Account(
        id=user["id"], email=user.get("email") or "", username=user.get("username") or "", created=created
    )


def organization_id(client: LabelStudioClient) -> int:
    """The admin's active organisation (Label Studio OSS has one)."""
    me = client.get_json("/api/current-user/whoami")
    if not me.get("active_organization"):
        raise LabelStudioError("this user has no active organisation")
    return int(me["active_organization"])


def list_accounts(client: LabelStudioClient) -> list[Account]:
    """Every member of the organisation (Label Studio shows removed members as "Deleted")."""
    return [_account(user) for user in client.get_json("/api/users/")]


def provision_accounts(client: LabelStudioClient, specs: Iterable[AccountSpec]) -> list[Account]:
    """Makes sure an account exists for each spec (matched on email); returns them in order.

    One listing of the organisation, then two calls per missing account. Running it again
    creates nothing. An email that belongs to a removed (deactivated) member cannot be
    provisioned again: Label Studio OSS has no API to restore a membership, and it raises.
    """
    specs = list(specs)
    org = organization_id(client)
    by_email = {account.email.lower(): account for account in list_accounts(client)}
    accounts = []
    for spec in specs:
        email = spec.email.strip().lower()
        found = by_email.get(email)
        if found is None:
            found = _create_account(client, spec, email, org)
            by_email[email] = found
        accounts.append(found)
    return accounts


def _create_account(client: LabelStudioClient, spec: AccountSpec, email: str, org: int) -> Account:
    body = {
        "email": email,
        "username": spec.username or email.split("@")[0],
        "first_name": spec.first_name,
        "last_name": spec.last_name,
    }
    response = client.request("POST", "/api/users/", json=body, expect=(201, 400))
    if response.status_code == 400:
        raise LabelStudioError(
            f"cannot create Label Studio account {email} (a removed member keeps its email): "
            + response.text[:300],
            400,
        )
    user = response.json()
    # POST /api/users/ leaves active_organization empty: without it the user sees no project.
    client.request("PATCH", f"/api/users/{user['id']}/", json={"active_organization": org})
    return _account(user, created=True)


def deactivate_account(client: LabelStudioClient, user_id: int) -> bool:
    """Removes the user from the organisation (soft delete). False if already removed.

    Their token still authenticates, but every project, task, queue and export is closed to
    them; their task locks are dropped, so their queued tasks can go to someone else.
    """
    org = organization_id(client)
    try:
        client.request("DELETE", f"/api/organizations/{org}/memberships/{user_id}/")
    except LabelStudioNotFound:
        return False
    return True


def invite_token(client: LabelStudioClient) -> str:
    """The organisation's signup token (admin only). Servers started by annotation.server
    accept signups only with it."""
    return client.get_json("/api/invite")["token"]


def register_annotator(url: str, invite: str, email: str, password: str) -> AnnotatorLogin:
    """An account that can act as itself, and its own API token.

    Signs up through the invite link; when the email is already registered, logs in with
    ``password`` instead (so a retry or a second call returns the same account and token).
    """
    email = email.strip().lower()
    with http_client(url) as browser:
        response = _sign_up(browser, url, invite, email, password)
        created = response.status_code == 302
        if not created:
            _raise_unless_exists(response, email)
            _login(browser, url, email, password)
        return _session_token(browser, email, created)


def sign_up_annotator(admin: LabelStudioClient, invite: str, email: str) -> Account:
    """An account with a password nobody knows (random, never returned or stored).
    Idempotent on the email: an existing member is returned with ``created=False``."""
    email = email.strip().lower()
    with http_client(admin.url) as browser:
        response = _sign_up(browser, admin.url, invite, email, secrets.token_urlsafe(32))
        if response.status_code == 302:
            me = browser.get("/api/current-user/whoami")
            if me.status_code != 200:
                raise_for_status(me.status_code, me.content, f"whoami of {email}")
            return _account(me.json(), created=True)
        _raise_unless_exists(response, email)
    for account in list_accounts(admin):
        if account.email.lower() == email:
            return account
    raise LabelStudioError(f"sign up {email}: registered, but not a member of the organisation", 409)


def _sign_up(browser: httpx.Client, url: str, invite: str, email: str, password: str) -> httpx.Response:
    browser.get("/user/signup/", params={"token": invite})
    return browser.post(
        "/user/signup/",
        params={"token": invite},
        data={
            "email": email,
            "password": password,
            "csrfmiddlewaretoken": browser.cookies.get("csrftoken", ""),
        },
        headers={"Referer": f"{url.rstrip('/')}/user/signup/"},
    )


def _raise_unless_exists(response: httpx.Response, email: str) -> None:
    """A sign-up form answered again (200): fine only when the email is already taken."""
    if response.status_code != 200:
        raise_for_status(response.status_code, response.content, f"sign up {email}")
    errors = [item for block in _FIELD_ERRORS.findall(response.text) for item in _ITEM.findall(block)]
    if not any("already exists" in message for message in errors) and errors:
        raise LabelStudioError(f"sign up {email}: {'; '.join(errors)}", 400, errors)


def login_token(url: str, email: str, password: str) -> AnnotatorLogin:
    """The API token of an existing account, by logging in with its password."""
    email = email.strip().lower()
    with http_client(url) as browser:
        _login(browser, url, email, password)
        return _session_token(browser, email, created=False)


def login_form(browser: httpx.Client, url: str, email: str, password: str) -> None:
    """Logs ``browser`` in through Label Studio's login form (its session cookie)."""
    _login(browser, url, email, password)


def _login(browser: httpx.Client, url: str, email: str, password: str) -> None:
    browser.get("/user/login/")
    response = browser.post(
        "/user/login/",
        data={
            "email": email,
            "password": password,
            "csrfmiddlewaretoken": browser.cookies.get("csrftoken", ""),
        },
        headers={"Referer": f"{url.rstrip('/')}/user/login/"},
    )
    if response.status_code != 302:
        raise LabelStudioError(f"log in {email}: wrong password, or no such account", response.status_code)


def _session_token(browser: httpx.Client, email: str, created: bool) -> AnnotatorLogin:
    token_response = browser.get("/api/current-user/token")
    me_response = browser.get("/api/current-user/whoami")
    for response in (token_response, me_response):
        if response.status_code != 200:
            raise_for_status(response.status_code, response.content, f"token of {email}")
    me = me_response.json()
    if not me.get("active_organization"):
        raise LabelStudioError(f"{email} was removed from the Label Studio organisation", 403)
    return AnnotatorLogin(
        user_id=me["id"], email=email, token=token_response.json()["token"], created=created
    )
