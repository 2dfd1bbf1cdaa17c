"""The Workbench's words in English and Chinese: one table, in nbtrain/i18n.json.

Keys are short names for UI strings (``"tab.model"``), spec and catalog field names (``"warmup_start_factor"``:
their human label) and the English help lines of the catalog and the spec (their translation). Error messages
stay English: they name spec fields, which are the same in every language.
"""
from __future__ import annotations

import json
import locale
import os
from pathlib import Path

from .errors import NbtrainError

LANGS = ("en", "zh")

# the table itself is data: nbtrain/i18n.json (ui: key -> [en, zh]; labels: field name -> [en, zh]; help: the
# catalog's and the specs' English help lines -> Chinese), read once here
_TABLE = json.loads((Path(__file__).with_name("i18n.json")).read_text(encoding="utf-8"))
UI: dict[str, tuple[str, str]] = {k: tuple(v) for k, v in _TABLE["ui"].items()}
LABELS: dict[str, tuple[str, str]] = {k: tuple(v) for k, v in _TABLE["labels"].items()}
HELP: dict[str, str] = _TABLE["help"]


def default_lang() -> str:
    """'zh' when the locale (LANG, LC_ALL, LC_MESSAGES or Python's locale) is Chinese, else 'en'."""
    names = [os.environ.get(k, "") for k in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")]
    try:
        names.append(locale.getlocale()[0] or "")
    except ValueError:  # an unknown locale name in the environment
        pass
    return "zh" if any(n.lower().startswith("zh") for n in names) else "en"


def check_lang(lang: str | None) -> str:
    """``lang`` if known; None: the locale's default."""
    if lang is None:
        return default_lang()
    if lang not in LANGS:
        raise NbtrainError(f"unknown language {lang!r}", "Workbench(lang=...)", "use 'en' or 'zh'")
    return lang


def t(key: str, lang: str = "en", **kw) -> str:
    """The UI string ``key`` in ``lang``, formatted with ``kw``."""
    text = UI[key][LANGS.index(lang)]
    return text.format(**kw) if kw else text


def label(name: str, lang: str = "en") -> str:
    """The human label of a spec field; a catalog parameter keeps its torch name (the code it stands for)."""
    pair = LABELS.get(name)
    return pair[LANGS.index(lang)] if pair else name


def help_line(text: str, lang: str = "en") -> str:
    """A catalog or spec help line in ``lang`` (English when the table has no translation)."""
    if lang == "en" or not text:
        return text
    return HELP.get(text, text)


def tooltip(name: str, help: str, lang: str = "en") -> str:
    """A field's tooltip: its spec name and its help line."""
    return f"{name}: {help_line(help, lang)}"


