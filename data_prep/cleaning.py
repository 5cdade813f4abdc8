"""Text normalisation and the cheap per-document quality filters (length, language), written
for speed since they run on every document: one regular-expression pass finds the rare characters
to replace, and the filters stop counting words once they have enough.
"""

from __future__ import annotations

import re
import unicodedata

from data_prep.config import CleanConfig
from data_prep.document import Document

_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
# Unicode spaces other than " ": no-break, Ogham, en/em/thin/hair..., narrow no-break,
# medium mathematical, ideographic.
_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
# Zero-width characters, the byte-order mark and the soft hyphen are invisible: dropped.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
# Line-like characters become newlines (a page's form feed must not glue two words).
_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\v": "\n", "\f": "\n", "\u2028": "\n", "\u2029": "\n\n"}
_CONTROLS = "".join(
    chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in "\n\t\r\v\f"
)

_REPLACEMENTS: dict[str, str] = {
    **_LIGATURES,
    **dict.fromkeys(_SPACES, " "),
    **dict.fromkeys(_INVISIBLE, ""),
    **dict.fromkeys(_CONTROLS, ""),
    **_LINE_BREAKS,
}
_SPECIAL = re.compile("\r\n|[" + re.escape("".join(k for k in _REPLACEMENTS if len(k) == 1)) + "]")
_HORIZONTAL = re.compile(r"[ \t]+")
_LINE_EDGES = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")
_LANGUAGE_SEPARATORS = re.compile(r"[\s,;/|]+")
# ISO 639-1 codes (JATS ``xml:lang``, most datasets) of the languages MEDLINE indexes, and the
# twenty ISO 639-2/T codes that differ from 639-2/B, as the ISO 639-2/B codes MEDLINE writes.
_LANGUAGE_PAIRS = (
    "en:eng fr:fre de:ger es:spa it:ita pt:por nl:dut ru:rus zh:chi ja:jpn ko:kor pl:pol tr:tur "
    "ar:ara cs:cze sk:slo sl:slv hr:hrv sr:srp bs:bos bg:bul uk:ukr be:bel mk:mac el:gre ro:rum "
    "hu:hun fi:fin et:est lv:lav lt:lit sv:swe da:dan no:nor nb:nob nn:nno is:ice ga:gle cy:wel "
    "eu:baq ca:cat gl:glg sq:alb hy:arm ka:geo fa:per he:heb hi:hin ur:urd bn:ben th:tha vi:vie "
    "id:ind ms:may tl:tgl af:afr eo:epo la:lat mi:mao bo:tib my:bur "
    "sqi:alb hye:arm eus:baq mya:bur zho:chi ces:cze nld:dut fra:fre kat:geo deu:ger ell:gre "
    "isl:ice mkd:mac mri:mao msa:may fas:per ron:rum slk:slo bod:tib cym:wel"
)
_LANGUAGES = dict(pair.split(":") for pair in _LANGUAGE_PAIRS.split())


def _replace(match: re.Match[str]) -> str:
    return _REPLACEMENTS[match.group()]


def normalize_text(text: str) -> str:
    """Canonical form of a document's text, so equal texts hash equal and n-grams match.

    NFC, not NFKC (which would turn "10²" into "102"); the characters above replaced; runs of
    spaces and tabs collapsed, lines stripped, three or more newlines made two (paragraphs stay).
    """
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        text = _SPECIAL.sub(_replace, text)
    elif not text.replace("\n", " ").replace("\t", " ").isprintable():  # ASCII controls, CR
        text = _SPECIAL.sub(_replace, text)
    # each pass only where its pattern can occur: most texts need few of them
    if "  " in text or "\t" in text:
        text = _HORIZONTAL.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _LINE_EDGES.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def language_code(code: str) -> str:
    """The ISO 639-2/B code (MEDLINE's) of a language code: "en", "en-US", "en_US", "ENG" are
    "eng"; "ces" and "cs" are "cze". A code outside the table compares as written.

    Every source's tag and ``clean.languages`` compare through it, so no source is filtered out
    for writing its languages another way."""
    code = re.split(r"[-_]", code.strip().lower())[0]
    return _LANGUAGES.get(code, code)


def rejection_reason(doc: Document, cfg: CleanConfig) -> str | None:
    """Why ``doc`` is filtered out ("too_short" or "language"), or None to keep it."""
    if cfg.min_words > 0 and len(doc.text.split(None, cfg.min_words)) < cfg.min_words:
        return "too_short"
    if not cfg.languages:
        return None
    language = doc.meta.get("language", "").strip().lower()
    if language in ("", "und"):  # ISO 639-2 "und": undetermined
        return None if cfg.keep_unknown_language else "language"
    wanted = {language_code(lang) for lang in cfg.languages}
    if any(language_code(lang) in wanted for lang in _LANGUAGE_SEPARATORS.split(language)):
        return None
    return "language"
