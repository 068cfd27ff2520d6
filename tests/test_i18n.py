"""The zh-hans catalog is complete and compiled, and the admin speaks Chinese by
default (English under /en/)."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

LC_MESSAGES = Path(settings.LOCALE_PATHS[0]) / "zh_Hans" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"

PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[a-z]|%[-#0 +]*\d*(?:\.\d+)?[sdifr]|\{\w*\}")


@dataclass
class Entry:
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


def parse_po(text: str) -> list[Entry]:
    """A small .po reader: enough for the catalog makemessages writes (no polib)."""
    entries: list[Entry] = []
    for block in re.split(r"\n[ \t]*\n", text.strip()):
        entry, target = Entry(), None
        for line in block.splitlines():
            if line.startswith("#~"):  # obsolete entry: not part of the catalog
                entry = None
                break
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
                continue
            if line.startswith("#"):
                continue
            keyword, _, rest = line.partition(" ")
            if line.startswith('"'):
                value = ast.literal_eval(line)
            else:
                target, value = keyword, ast.literal_eval(rest)
            if target == "msgctxt":
                entry.msgctxt = (entry.msgctxt or "") + value
            elif target == "msgid":
                entry.msgid += value
            elif target == "msgid_plural":
                entry.msgid_plural = (entry.msgid_plural or "") + value
            else:
                index = int(target[7:-1]) if target.startswith("msgstr[") else 0
                entry.msgstr[index] = entry.msgstr.get(index, "") + value
        if entry is not None:
            entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def catalog() -> list[Entry]:
    entries = parse_po(PO.read_text(encoding="utf-8"))
    assert entries[0].msgid == "", "the header comes first"
    return entries


def messages(catalog: list[Entry]) -> list[Entry]:
    return [entry for entry in catalog if entry.msgid]


def test_header_declares_simplified_chinese(catalog):
    header = catalog[0].msgstr[0]
    assert "Language: zh_Hans\n" in header
    assert "Plural-Forms: nplurals=1; plural=0;\n" in header
    assert "charset=UTF-8" in header
    assert "fuzzy" not in catalog[0].flags


def test_every_msgid_is_translated(catalog):
    assert len(messages(catalog)) > 400
    untranslated = [e.msgid for e in messages(catalog) if not e.msgstr or not all(e.msgstr.values())]
    fuzzy = [e.msgid for e in messages(catalog) if "fuzzy" in e.flags]
    assert untranslated == [], "run makemessages and translate these (locale/README.md)"
    assert fuzzy == [], "check these guesses and remove the fuzzy flag"


def test_translations_keep_their_placeholders(catalog):
    wrong = []
    for entry in messages(catalog):
        for text in entry.msgstr.values():
            sources = [entry.msgid] + ([entry.msgid_plural] if entry.msgid_plural else [])
            if not any(sorted(PLACEHOLDER.findall(s)) == sorted(PLACEHOLDER.findall(text)) for s in sources):
                wrong.append((entry.msgid, text))
    assert wrong == []


def test_compiled_catalog_matches_the_po(catalog):
    assert MO.is_file(), "run compilemessages (locale/README.md); the .mo is committed"
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in messages(catalog):
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        lookup = key if entry.msgid_plural is None else (key, 0)
        found = compiled._catalog.get(lookup)  # type: ignore[attr-defined]
        if found != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert stale == [], "django.mo is older than django.po: run compilemessages"


def test_django_translates_with_the_catalog():
    from django.utils import translation

    with translation.override("zh-hans"):
        assert translation.gettext("annotator") == "数据标注员"
        assert translation.gettext("headcount target") == "在岗人数目标"
        assert translation.ngettext("%d project paused.", "%d projects paused.", 3) % 3 == "已暂停 3 个项目。"
    with translation.override("en"):
        assert translation.gettext("annotator") == "annotator"


@pytest.mark.django_db
def test_admin_index_is_chinese_by_default(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="zh-hans"' in page
    assert "数据标注员" in page
    assert "数据集项目" in page
    assert "地市州" in page


@pytest.mark.django_db
def test_unprefixed_admin_stays_chinese_for_an_english_browser(client, admin_user):
    """/admin/ is the default-language URL (i18n_patterns without a prefix for
    zh-hans): neither Accept-Language nor the language cookie switch it."""
    client.force_login(admin_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/admin/", headers={"accept-language": "en"})
    assert response.status_code == 200
    assert "数据标注员" in response.content.decode()


@pytest.mark.django_db
def test_admin_index_in_english(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/en/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="en"' in page
    assert "Annotators" in page
    assert "Dataset projects" in page
    assert "数据标注员" not in page


@pytest.mark.django_db
def test_choosing_english_leads_to_the_english_admin(client, admin_user):
    """The language switch (Django's set_language) sets the cookie and sends the
    user to the /en/ URL of the page they were on."""
    client.force_login(admin_user)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert response.status_code == 302
    assert response.url == "/en/admin/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Annotators" in client.get(response.url).content.decode()
