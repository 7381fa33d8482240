"""How raw text becomes tokens: one rule per way the shipped data sets were tokenised.

A model only knows the tokens it was trained on, so raw text given to a bundle (``n2r explain``,
``n2r serve``) must be split the way its training text was. Each registered data set names its
rule (:attr:`n2r.data.base.DatasetSpec.text_rule`); ``data.text_rule`` overrides it for your own
files; a bundle records the rule in its ``config.yaml`` (``data.text_rule``) and applies it to
every text it is given. Token lists (``{"tokens": [...]}``) are taken as they are.

- ``simple``: lower-cased runs of letters and digits (with one trailing ``'s``-style clitic kept
  on the word) and single punctuation marks — AG News, whose files hold raw text, and the
  generated set.
- ``ptb``: lower-cased, Penn-Treebank style, as the BeerAdvocate, TripAdvisor and SST-2 files
  are: punctuation apart, clitics split off (``it's`` → ``it 's``, ``don't`` → ``do n't``),
  hyphenated words, numbers and slashed pairs kept whole (``off-white``, ``11.2``,
  ``brown/black``); a run of one mark (``...``, ``--``) is one token.
- ``lower-words``: lower-cased words with their inner apostrophes, hyphens and slashes kept
  (``what's``, ``sci-fi``, ``7/10``), punctuation apart — the movie reviews of Zaidan et al.
- ``whitespace``: split on whitespace, nothing else — what the Hugging Face door does with a
  text column, and the rule for your own files unless you set another.
"""
from __future__ import annotations

import re
from typing import Callable

from n2r.registry import Registry

TEXT_RULES: Registry[Callable[[str], list[str]]] = Registry("text rule")

_SIMPLE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?|[^\sa-z0-9]")
_L = r"[^\W_]"                                                    # a letter or digit, any script
_PTB = re.compile(rf"{_L}+(?:[-./]{_L}+)*(?=n['’]t\b)"            # the word before n't
                  rf"|n['’]t\b|['’](?:s|m|d|ll|ve|re)\b"          # clitics
                  rf"|{_L}+(?:[-./]{_L}+)*"                        # words, 11.2, off-white, brown/black
                  r"|([^\w\s]|_)\1*")                             # a mark, or a run of it: ... --
_LOWER_WORDS = re.compile(rf"{_L}+(?:[-'’/]{_L}+)*|([^\w\s]|_)\1*")


@TEXT_RULES.register("simple")
def simple_tokenize(text: str) -> list[str]:
    """Lower-cased runs of ASCII letters and digits (``don't`` stays one word) and single
    punctuation marks; any other character is a mark of its own."""
    return _SIMPLE.findall(text.lower())


@TEXT_RULES.register("ptb")
def ptb_tokenize(text: str) -> list[str]:
    """Lower-cased Penn-Treebank-style tokens: ``it's`` → ``it 's``, ``don't`` → ``do n't``,
    ``off-white``, ``11.2`` and ``brown/black`` whole; every other punctuation mark its own token
    (a run of one mark, ``...``, one token)."""
    return [m.group(0) for m in _PTB.finditer(text.lower())]


@TEXT_RULES.register("lower-words")
def lower_words_tokenize(text: str) -> list[str]:
    """Lower-cased words keeping inner apostrophes, hyphens and slashes; punctuation marks apart
    (a run of one mark is one token)."""
    return [m.group(0) for m in _LOWER_WORDS.finditer(text.lower())]


@TEXT_RULES.register("whitespace")
def whitespace_tokenize(text: str) -> list[str]:
    """The text split on whitespace, unchanged otherwise."""
    return text.split()


def tokenize_text(text: str, rule: str) -> list[str]:
    """``text`` split by the registered rule ``rule`` (an unknown name raises, listing the known)."""
    return TEXT_RULES.get(rule)(text)
