"""The zh-hans catalog is complete and compiled, and the admin speaks Chinese by
default (English under /en/)."""

from __future__ import annotations

import ast
import gettext
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.utils import is_ignored_path
from django.utils.translation.template import templatize

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


# What `makemessages` reads (locale/README.md): the repository, minus Django's default
# ignores and the README's --ignore options, in Django's file types for the "django" domain.
REPO = Path(settings.BASE_DIR)
README_IGNORE = [".venv", "var", "tests", "bench", "node_modules"]
IGNORE = ["CVS", ".*", "*~", "*.pyc", *README_IGNORE]
EXTENSIONS = {".py", ".html", ".txt"}

# The gettext functions makemessages has xgettext look for: name -> argument positions of
# (context, msgid); None where there is no context.
KEYWORDS = {
    "_": (None, 0),
    "gettext": (None, 0),
    "gettext_lazy": (None, 0),
    "gettext_noop": (None, 0),
    "ngettext": (None, 0),
    "ngettext_lazy": (None, 0),
    "pgettext": (0, 1),
    "pgettext_lazy": (0, 1),
    "npgettext": (0, 1),
    "npgettext_lazy": (0, 1),
}
# Calls in templatize()'s output: the template tags turned into gettext calls.
_LITERAL = r"""u?(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
TEMPLATE_CALL = re.compile(rf"(?<![\w.])(\w+)\(\s*({_LITERAL})(?:\s*,\s*({_LITERAL}))?")

Msg = tuple[str | None, str]  # (msgctxt, msgid)


def _literal(node: ast.expr) -> str | None:
    """The text xgettext takes from an argument: a string literal (joined when implicitly
    concatenated), also when it starts an expression such as ``"..." % values``."""
    while isinstance(node, ast.BinOp):
        node = node.left
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def python_msgids(source: str) -> set[Msg]:
    """The (context, msgid) of every gettext call with literal arguments, as xgettext
    extracts them (it skips calls whose text is not a literal). f-strings are skipped
    too: their text can never match a msgid at run time."""
    found: set[Msg] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in KEYWORDS:
            continue
        context_at, msgid_at = KEYWORDS[name]
        args = [_literal(arg) for arg in node.args]
        wanted = [msgid_at] if context_at is None else [context_at, msgid_at]
        if len(args) > msgid_at and all(args[i] is not None for i in wanted) and args[msgid_at]:
            found.add((None if context_at is None else args[context_at], args[msgid_at]))
    return found


def template_msgids(source: str) -> set[Msg]:
    """{% translate %}, {% blocktranslate %} and _("...") of a template, through the same
    templatize() that makemessages feeds to xgettext."""
    found: set[Msg] = set()
    for name, first, second in TEMPLATE_CALL.findall(templatize(source)):
        if name not in KEYWORDS:
            continue
        context_at, _msgid_at = KEYWORDS[name]
        if context_at is None:
            found.add((None, ast.literal_eval(first)))
        elif second:
            found.add((ast.literal_eval(first), ast.literal_eval(second)))
    return found


def source_msgids(root: Path = REPO) -> dict[Msg, str]:
    """Every msgid makemessages would collect under root, with one file that uses it."""
    ignored_roots = {os.path.normpath(p) for p in (settings.MEDIA_ROOT, settings.STATIC_ROOT) if p}
    found: dict[Msg, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        relative = Path(dirpath).relative_to(root)
        dirnames[:] = [
            d
            for d in dirnames
            if not is_ignored_path(relative / d, IGNORE) and os.path.join(dirpath, d) not in ignored_roots
        ]
        for filename in filenames:
            path = Path(dirpath) / filename
            if path.suffix not in EXTENSIONS or is_ignored_path(relative / filename, IGNORE):
                continue
            text = path.read_text(encoding="utf-8")
            extract = python_msgids if path.suffix == ".py" else template_msgids
            for msg in extract(text):
                found.setdefault(msg, str(path.relative_to(root)))
    return found


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


def test_the_extractor_finds_what_makemessages_finds(tmp_path, settings, monkeypatch):
    """The samples cover the kinds of call in the code; where GNU gettext is installed,
    makemessages itself confirms the expected set."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "models.py").write_text(
        "from django.utils.translation import gettext_lazy as _, ngettext, pgettext_lazy\n"
        'a = _("plain")\n'
        'b = pgettext_lazy("project status", "Active")\n'
        'c = ngettext("%d item", "%d items", n)\n'
        'd = translation.gettext("dotted " "and joined")\n'
        "e = _(variable)\n"
        'f = _("%(n)d left" % {"n": n})\n'
    )
    (tmp_path / "app" / "page.html").write_text(
        '{% load i18n %}{% translate "Home" %}{% translate "Open" context "door" %}'
        "{% blocktranslate with n=count %}Headcount: {{ n }}{% endblocktranslate %}"
        "{% blocktranslate count counter=n %}{{ counter }} row{% plural %}"
        "{{ counter }} rows{% endblocktranslate %}"
        '{{ _("In a filter") }}'
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text('_("in a test: ignored")\n')
    expected = {
        (None, "plain"),
        ("project status", "Active"),
        (None, "%d item"),
        (None, "dotted and joined"),
        (None, "%(n)d left"),
        (None, "Home"),
        ("door", "Open"),
        (None, "Headcount: %(n)s"),
        (None, "%(counter)s row"),
        (None, "In a filter"),
    }
    assert set(source_msgids(tmp_path)) == expected
    if shutil.which("xgettext") and shutil.which("msguniq"):
        settings.LOCALE_PATHS = [str(tmp_path / "locale")]
        monkeypatch.chdir(tmp_path)
        call_command("makemessages", locale=["zh_Hans"], ignore_patterns=README_IGNORE, verbosity=0)
        extracted = parse_po((tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po").read_text())
        assert {(entry.msgctxt, entry.msgid) for entry in messages(extracted)} == expected


def test_every_msgid_in_the_source_is_translated_in_the_catalog(catalog):
    """A gettext call added without re-running makemessages and translating fails here,
    not on a page that silently stays English."""
    found = source_msgids()
    assert len(found) > 400
    assert ("project status", "Active") in found  # the extractor sees contexts and templates
    assert (None, "Reveal personal data") in found
    translated = {
        (entry.msgctxt, entry.msgid)
        for entry in messages(catalog)
        if entry.msgstr and all(entry.msgstr.values()) and "fuzzy" not in entry.flags
    }
    missing = sorted(
        f"{path}: {msgid!r}" + (f" (context {ctx!r})" if ctx else "")
        for (ctx, msgid), path in found.items()
        if (ctx, msgid) not in translated
    )
    assert missing == [], "run makemessages, translate and compilemessages (locale/README.md)"


def placeholders(entry: Entry, text: str) -> list[str]:
    found = PLACEHOLDER.findall(text)
    if "no-python-format" in entry.flags:  # its % is a literal percent ("95% interval")
        found = [p for p in found if not p.startswith("%")]
    return sorted(found)


def test_translations_keep_their_placeholders(catalog):
    wrong = []
    for entry in messages(catalog):
        for text in entry.msgstr.values():
            sources = [entry.msgid] + ([entry.msgid_plural] if entry.msgid_plural else [])
            if not any(placeholders(entry, s) == placeholders(entry, text) for s in sources):
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
