"""Sentence boundaries: where each sentence of a text starts, fast enough for 10,000 articles.

The rules are syntok's (1.4), which briefer used before: a sentence ends at ``. ! ? ; ...``
(and their full-width forms) unless what follows is lowercase or inner punctuation, or the
mark closes an abbreviation ("Sen.", "Feb. 24", "U.S."), an initial ("J. R. R. Tolkien"), a
Roman numeral or a number; closing quotes and brackets after the mark stay with the sentence,
short bracketed text ("(A. Author et al.)") is passed over, and blank lines always end one.
syntok tokenizes every word and runs a state machine over the tokens; here a regular
expression finds the few places that could end a sentence and only those are looked at, with
the same decisions, for about a sixth of the CPU. ``bench/bench_sentences.py`` measures the
agreement with syntok on real articles. The word lists and the rules are syntok's, whose
licence follows.
"""

# MIT License
#
# Copyright (c) 2018-2022 Florian Leitner
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in all
# copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
# SOFTWARE.

from __future__ import annotations

import re


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_TERMINALS = frozenset(
    ".!?;\u203c\u203d\u2047\u2048\u2049\u3002\ufe52\ufe57\uff01\uff0e\uff1f\uff61"
) | {"..."}
_OPENING_BRACKETS = frozenset(
    "([{\uff5f\uff5b\uff3b\uff08\ufe5d\ufe5b\ufe59\ufd3e\u301a\u3018\u2985\u2983\u2329"
)
_CLOSING_BRACKETS = frozenset(
    ")]}\uff60\uff5d\uff3d\uff09\ufe5e\ufe5c\ufe5a\ufd3f\u301b\u3019\u2986\u2984\u232a"
)
_CLOSING_QUOTES = frozenset("'\"\u00b4\u2019\u201d\u232a\u27e9\u27eb\u2e29\u3009\u300b\u301e")
_INNER_PUNCTUATION = frozenset(",;:")
_APOSTROPHES = frozenset("'\u00b4\u02b9\u02bc\u2019\u2032")
# Marks that join words without ending anything ("well-known", "snake_case").
_JOINERS = frozenset("\u00ad\u058a\u05be\u0f0c\u1400\u1806\u2010\u2011\u2012\u2e17\u30a0-_")
_SEPARATOR_PUNCTUATION = _JOINERS | {",", ";"}
_VOWELS = frozenset("aeiouáéííóúäëïöüåæøAEIOUÁÉÍÍÓÚÄËÏÖÜÅÆØ")
_ROMAN_NUMERALS = _word_set(
    "I II III IV V VI VII VIII IX X XI XII XIII XIV XV XVI XVII XVIII XIX XX "
    "XXI XXII XXIII XXIV XXV"
)
_MONTHS = _word_set(
    """Jän Jan en ene Ene feb febr Feb Mär Mar mzo Mzo Apr abr abl Abr may May jun Jun
    jul Jul ago agto Aug sep Sep sept Sept setbre set
    oct octbre Oct Okt nov novbre Nov dic dicbre Dic Dez Dec"""
)
# Abbreviations written without inner dots (syntok's list: English, German, Spanish).
_ABBREVIATIONS = _word_set(
    """Abb adm Adm Abs afmo alt Alt Anl ap apdo approx Approx art Art atte atto Aufl ave Ave Az
    bmo Bmo brig Bd Brig bsp Bsp bspw bzgl bzw ca cap capt Capt cf cmdt Cmdt cnel Cnel Co col
    Col Corp de Dr dgl dt emp en es etc evtl excl exca Exca excmo Excmo exsmo Exsmo ff fig Fig
    figs Figs fr Fr gal gen Gen ggf gral Gral GmbH gob Gob Hd hno Hno hnos Hnos Inc incl inkl
    lic Lic lit ldo Ldo Ltd mag Mag max med Med Min min Mio mos Mr mr Mrd Mrs mrs Ms ms Mt mt
    MwSt nat Nat Nr nr ntra Ntra ntro Ntro pag phil prof Prof rer Rer resp sci Sci Sen Sr sr
    Sra sra Srta srta St st synth tab Tab tel Tel univ Univ Urt vda Vda vol Vol vs vta zB zit
    zzgl Mo Mon lun Di Tue mar Mi Wed mie mié Do Thu jue Fr Fri vie Sa Sat sab So Sun dom"""
)
# Capitalised words that open a sentence (syntok's list).
_STARTERS = _word_set(
    """Above Accordingly Additionally Admittedly All Also Although Again And Are As Assuredly
    Because Besides Certainly Chiefly Comparatively Consequently Conversely Coupled
    Correspondingly Does Due Especially For Furthermore Granted Generally Hence How However
    Identically In Indeed Instead It Its Likewise Moreover Nevertheless No Obviously Of On
    Ordinarily Other Otherwise Outside Particularly Rather Similarly Since Singularly Still So
    Subsequently That The Therefore Thereupon This Thus Unquestionably Use Usually What Where
    Whereas Wherefore Why Yet Auch Da Dabei Dadurch Daher Darauf Darum Das Dein Der Deswegen
    Die Du Ich Ihr Ihnen Er Es Euer Mein Nämlich Sie Sein So Somit Sonst Unser Warum Was Wegen
    Weil Wer Weshalb Wie Wieso Wir A Algunas Algunos De Desde Debido El Ella En Hay La Las Los
    No Otra Otro Para Por Porque Se También Todas Todos"""
)
_MAX_BRACKET_SKIP_CHARS = 70
_MAX_BRACKET_TOKENS = 50

_PARAGRAPH_BREAK = re.compile(r"\r?\n(?:\s*\r?\n)+")
# Places that may end a sentence: sentence marks, and opening brackets (which may be passed over).
_CANDIDATE = re.compile(
    "\\.\\.\\.|[" + re.escape("".join(sorted((_TERMINALS - {"..."}) | _OPENING_BRACKETS))) + "]"
)

# The commonest sentence end, decided without reading tokens: a plain lowercase word, ".",
# whitespace, then a capitalised word with no letter or digit after it before the next space
# ("said. The", "year. Officials,"). syntok's rules cut there (the word before is neither
# single, an initial, a number nor dotted; the word after is spaced, titled and not a number)
# unless the word before is an abbreviation ("approx. Smith"), which _plain_ends leaves to
# the full rules. The pattern starts at the mark, so `re` finds it fast; the word before is
# checked in Python. (``\s``, ``\S`` and ``\w`` are the classes of ``str.isspace`` and of
# ``str.isalnum`` plus "_"; "\u200b", a space to the rules, is neither, which only makes the
# shortcut rarer.)
# The same holds with an opening quote before the capital ('said. "The', 'said. “The'): the
# quote is the next sentence's first token (no group 1 then).
_PLAIN_END = re.compile(r"\.\s+(?:([A-Z][a-z]+)(?=[^\w\s]*(?!\S))|[\"\u201c](?=[A-Z]))")
_LOWERCASE = frozenset("abcdefghijklmnopqrstuvwxyz")
_LOWERCASE_RUN = re.compile("[a-z0-9]*")


def _plain_ends(paragraph: str) -> dict[int, tuple[int, int]]:
    """Return ``{mark offset: (next sentence's start, end of its first token)}`` for the
    plain sentence ends of ``paragraph`` (see ``_PLAIN_END``)."""
    ends: dict[int, tuple[int, int]] = {}
    for match in _PLAIN_END.finditer(paragraph):
        mark = start = match.start()
        while start > 0 and paragraph[start - 1] in _LOWERCASE:
            start -= 1
        if mark - start < 2 or (start > 0 and not paragraph[start - 1].isspace()):
            continue  # not a plain word of two letters or more
        word = match[1]
        if paragraph[start:mark] in _ABBREVIATIONS and (word is None or word not in _STARTERS):
            continue
        ends[mark] = (match.start(1), match.end(1)) if word else (match.end() - 1, match.end())
    return ends


def _is_space(char: str) -> bool:
    return char.isspace() or char == "\u200b"


class _Token:
    """A token as syntok's tokenizer would cut it: where it starts and ends, what it is."""

    __slots__ = ("end", "spaced", "start", "value")

    def __init__(self, start: int, end: int, value: str, spaced: bool) -> None:
        self.start = start
        self.end = end
        self.value = value
        self.spaced = spaced


class _Text:
    """One paragraph, read token by token only where a decision needs it."""

    __slots__ = ("length", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.length = len(text)

    # --- words -------------------------------------------------------------------------

    def chunk(self, at: int) -> tuple[int, int, int, int]:
        """Return ``(start, end, first_alnum, last_alnum)`` of the spaceless run around ``at``.

        ``first_alnum`` is ``end`` and ``last_alnum`` is ``start - 1`` when it holds no
        letter or digit.
        """
        text, start, end = self.text, at, at
        while start > 0 and not (text[start - 1].isspace() or text[start - 1] == "\u200b"):
            start -= 1
        while end < self.length and not (text[end].isspace() or text[end] == "\u200b"):
            end += 1
        first = start
        while first < end and not text[first].isalnum():
            first += 1
        last = end - 1
        while last >= first and not text[last].isalnum():
            last -= 1
        return start, end, first, last

    def _word_break(self, i: int, last: int) -> int:
        """Return the length of the separator that splits the word at ``i`` (0: none there).

        A separator is a lowercase-to-uppercase step with an optional ``.!?`` in it, an
        apostrophe with its tail, a bracket, ``...``, or a joiner or comma between letters.
        """
        text = self.text
        char = text[i]
        before = text[i - 1]
        if char.isupper() and before.islower():
            return -1  # a zero-width break: the next token starts here
        if char in ".!?" and before.islower() and i < last and text[i + 1].isupper():
            return 1
        if char in _APOSTROPHES and i < last and text[i + 1].isalpha():
            return 1
        if char in _OPENING_BRACKETS or char in _CLOSING_BRACKETS:
            return 1
        if char == "." and text.startswith("...", i):
            return 3
        if char in _SEPARATOR_PUNCTUATION and i < last:
            after = text[i + 1]
            if (before.isalpha() and after.isalnum()) or (before.isalnum() and after.isalpha()):
                return 1
        return 0

    def token_at(self, at: int) -> _Token | None:
        """Return the token starting at or after ``at`` (skipping spaces), or None at the end."""
        text = self.text
        start = at
        while start < self.length and _is_space(text[start]):
            start += 1
        if start >= self.length:
            return None
        spaced = start > at or (start > 0 and _is_space(text[start - 1]))
        chunk_start, chunk_end, first, last = self.chunk(start)
        if first >= chunk_end:  # no letter or digit: the whole run is one token
            return _Token(chunk_start, chunk_end, text[chunk_start:chunk_end], spaced)
        if start < first:
            return _Token(start, start + 1, text[start], spaced)
        if start > last:
            if start == last + 1 and text.startswith("...", start):
                return _Token(start, start + 3, "...", spaced)
            return _Token(start, start + 1, text[start], spaced)
        end = start + 1
        if start > first:  # inside a word: a separator may be the token itself
            size = self._word_break(start, last)
            if size > 0:
                if text[start] in _APOSTROPHES:
                    end = start + 1
                    while end <= last and text[end].isalpha():
                        end += 1
                    return _Token(start, end, text[start:end], spaced)
                return _Token(start, start + size, text[start : start + size], spaced)
        while end <= last:
            # a lowercase ASCII letter or a digit never starts a separator: pass them in C
            run = _LOWERCASE_RUN.match(text, end, last + 1)
            end = run.end() if run is not None else end
            if end > last or self._word_break(end, last) != 0:
                break
            end += 1
        return _Token(start, end, text[start:end], spaced)

    def token_before(self, at: int) -> _Token | None:
        """Return the token that ends just before ``at`` (spaces skipped), or None."""
        text = self.text
        end = at
        while end > 0 and _is_space(text[end - 1]):
            end -= 1
        if end == 0:
            return None
        chunk_start, _, first, last = self.chunk(end - 1)
        if first > last or end - 1 < first or end - 1 > last:
            # punctuation: scan tokens from the start of the run to find the one ending here
            token = self.token_at(chunk_start)
            previous = token
            while token is not None and token.end < end and token.start < end:
                previous = token
                token = self.token_at(token.end)
            if token is not None and token.end == end:
                return token
            return previous
        start = end - 1
        while start > first:
            size = self._word_break(start, last)
            if size == -1:
                break
            if size > 0:
                if text[start] in _APOSTROPHES:
                    break
                start += size
                break
            start -= 1
        return _Token(start, end, text[start:end], False)

    # --- brackets ----------------------------------------------------------------------

    def bracket_end(self, opening: _Token) -> tuple[int, bool]:
        """Return where the bracketed text opened by ``opening`` ends (0: not closed within
        50 tokens) and whether it looks like a sentence of its own."""
        depth = 1
        first_is_title: bool | None = None
        last_is_terminal = False
        token = self.token_at(opening.end)
        count = 1
        while token is not None and count < _MAX_BRACKET_TOKENS:
            value = token.value
            following = None
            if first_is_title is None and value.isalnum():
                first_is_title = value.istitle()
            elif first_is_title and value.isalnum():
                following = self.token_at(token.end)
                last_is_terminal = following is not None and following.value in _TERMINALS
            if value in _OPENING_BRACKETS:
                depth += 1
            elif value in _CLOSING_BRACKETS:
                depth -= 1
                if depth == 0:
                    return token.end, bool(first_is_title and last_is_terminal)
            token = following if following is not None else self.token_at(token.end)
            count += 1
        return 0, bool(first_is_title and last_is_terminal)

    def skippable(self, opening: _Token) -> int:
        """Return where the bracketed text opened by ``opening`` can be passed over (0: no)."""
        end, has_sentence = self.bracket_end(opening)
        if end and (end - opening.start < _MAX_BRACKET_SKIP_CHARS or not has_sentence):
            return end
        return 0


def sentence_starts(text: str) -> list[int]:
    """Return the offset of the first character of each sentence of ``text``, in order."""
    starts: list[int] = []
    if "\n" not in text:  # one paragraph: a break needs a line break, and is slow to search for
        _paragraph_starts(text, 0, starts)
        return starts
    offset = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        _paragraph_starts(text[offset : match.start()], offset, starts)
        offset = match.end()
    _paragraph_starts(text[offset:], offset, starts)
    return starts


def _paragraph_starts(paragraph: str, offset: int, starts: list[int]) -> None:
    text = _Text(paragraph)
    first = text.token_at(0)
    if first is None:
        return
    sentence = first.start  # where the current sentence starts
    opening = first.start  # while no word has come between marks: syntok's "first token"
    starts.append(offset + sentence)
    # everything before ``position`` has been decided
    position = first.start if paragraph[first.start] in _OPENING_BRACKETS else first.end
    length = len(paragraph)
    plain_ends = _plain_ends(paragraph)
    content_end = len(paragraph.rstrip())  # str.rstrip strips what str.isspace tells
    while position < length:
        if position == opening and paragraph[position] in _OPENING_BRACKETS:
            bracket = text.token_at(position)
            if bracket is not None and bracket.value in _OPENING_BRACKETS:
                end = text.skippable(bracket)
                if end:
                    following = text.token_at(end)
                    if following is None:
                        return
                    if _own_sentence(text, bracket, end) and not following.value[:1].islower():
                        sentence = opening = position = following.start
                        starts.append(offset + position)
                    else:
                        opening = position = following.start
                    continue
        match = _CANDIDATE.search(paragraph, position)
        if match is None:
            return
        if match.end() >= content_end and match[0] not in _OPENING_BRACKETS:
            # A sentence mark with only spaces after it: whatever token it is part of, the
            # rules below find no sentence after it (_decide's "following" is None).
            return
        plain_end = plain_ends.get(match.start())
        if plain_end is not None:  # what the rules below decide there, without their reading
            sentence = opening = plain_end[0]
            position = plain_end[1]
            starts.append(offset + sentence)
            continue
        mark = text.token_at(match.start())
        if mark is None:
            return
        if mark.start != match.start():
            position = match.end()
            continue
        if mark.value in _TERMINALS:
            cut, following = _decide(text, mark, opening, bracket=False)
        elif mark.value in _OPENING_BRACKETS and mark.start > sentence:
            before = text.token_before(mark.start)
            at_first = before is not None and before.start == opening and mark.value == "("
            end = 0 if at_first else text.skippable(mark)
            if end:
                position = end
                continue
            cut, following = _decide(text, mark, opening, bracket=True)
        else:
            position = max(match.end(), mark.end)
            continue
        if cut is None:
            before = text.token_before(mark.start)
            if before is not None and before.start == opening:
                opening = following.start if following is not None else length
            # marks and closers that stayed with ``mark`` are decided with it
            resume = following.start if following is not None else length
            position = resume if resume > mark.start else mark.end
            continue
        if cut >= length:
            return
        sentence = opening = position = cut
        starts.append(offset + cut)
        if paragraph[cut] not in _OPENING_BRACKETS:
            # a sentence's first token is never a decision, even when it is a mark
            if following is not None and following.start == cut:
                position = following.end  # the token read at ``cut``, read again there
            else:
                position = _first_token_end(text, cut)


def _first_token_end(text: _Text, start: int) -> int:
    token = text.token_at(start)
    return token.end if token is not None else text.length


def _own_sentence(text: _Text, bracket: _Token, end: int) -> bool:
    """Tell whether passed-over bracketed text opening a sentence has more than 3 tokens."""
    tokens = 0
    token: _Token | None = bracket
    while token is not None and token.end <= end:
        tokens += 1
        if tokens > 3:
            return True
        token = text.token_at(token.end)
    return False


def _decide(
    text: _Text, mark: _Token, opening: int, bracket: bool
) -> tuple[int | None, _Token | None]:
    """Return where the next sentence starts if one starts after ``mark`` (else None), and the
    first token after ``mark`` and the marks that stay with it."""
    before_token = text.token_before(mark.start)
    before = before_token.value if before_token is not None else ""
    first_token = before_token is not None and before_token.start == opening
    after: str | None = None
    following: _Token | None
    if bracket:
        end = text.skippable(mark)
        following = text.token_at(end) if end else mark
        if end and following is not None:
            after = following.value
    else:
        following = text.token_at(mark.end)
        following, after = _pass_closers(text, following, after)
        if following is not None and following.value in _CLOSING_QUOTES and not following.spaced:
            after = following.value if after is None else after
            following = text.token_at(following.end)
        following, after = _pass_closers(text, following, after)
        if following is not None and following.value in _OPENING_BRACKETS:
            after = following.value
    if following is None:
        return text.length, None
    return _split_before(text, following, before, after, first_token), following


def _pass_closers(
    text: _Text, following: _Token | None, after: str | None
) -> tuple[_Token | None, str | None]:
    """Move over further sentence marks and closing brackets; ``after`` is the first one."""
    while following is not None and (
        following.value in _TERMINALS or following.value in _CLOSING_BRACKETS
    ):
        after = following.value if after is None else after
        following = text.token_at(following.end)
    return following, after


def _split_before(
    text: _Text, following: _Token, before: str, after: str | None, first_token: bool
) -> int | None:
    """Return ``following.start`` if a sentence starts there, else None (syntok's rules)."""
    if after is None:
        after = following.value
    value = following.value
    if value[:1].islower() or value in _INNER_PUNCTUATION:
        return None
    single = len(before) == 1 or before in _ROMAN_NUMERALS
    if not (first_token and single) and value in _STARTERS:
        return following.start
    if before in _ABBREVIATIONS and after not in _CLOSING_BRACKETS:
        return None
    if before in ("no", "No", "NO") and value.isalnum() and any(c.isnumeric() for c in value):
        return None
    if value.isnumeric() and not following.spaced:
        return None
    if not following.spaced and (not after.istitle() or not after.isalpha() or len(after) == 1):
        return None
    if value.isnumeric() and len(value) > 2:
        return None
    if before.isnumeric() and value in _MONTHS:
        return None
    if before in _MONTHS and value.isnumeric():
        return None
    if "." in before and after != ".":
        return None
    if (first_token or before.isupper()) and single:
        return None
    if len(before) == 1 and before.isalpha() and before not in _VOWELS:
        return None
    if after in _OPENING_BRACKETS:
        return _decide_before_bracket(text, following)
    return following.start


def _decide_before_bracket(text: _Text, bracket: _Token) -> int | None:
    end, has_sentence = text.bracket_end(bracket)
    after_brackets = ""
    if end and not has_sentence:
        token = text.token_at(end)
        after_brackets = token.value if token is not None else ""
    inside = text.token_at(bracket.end)
    if after_brackets in _INNER_PUNCTUATION:
        return None
    if inside is not None and inside.value.istitle():
        return bracket.start
    if after_brackets[:1].islower():
        return None
    return bracket.start
