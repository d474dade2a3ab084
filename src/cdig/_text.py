"""Text helpers for error messages, shared by the loaders and the command line.

An error or warning about an argument names it with :class:`Name` parts (see
:class:`ArgumentError`), so that each front end says it in its own words: Python's
``target=5`` is the command line's ``--target 5``, mapped by a table of names, not by
rewriting the text.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, NamedTuple

__all__ = [
    "KEYWORD",
    "ArgumentError",
    "ArgumentTypeError",
    "Name",
    "Part",
    "first_line",
    "in_words",
    "python_words",
]


def first_line(err: BaseException, limit: int = 160) -> str:
    """The first sentence of an error message, at most ``limit`` characters."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    if text.startswith("The following operation failed in the TorchScript interpreter"):
        text = lines[-1]  # the original error comes last, after TorchScript's traceback
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Form(Enum):
    BARE = "bare"
    KEYWORD = "keyword"


#: ``Name(name)``: the parameter alone (``n_steps``).
BARE = _Form.BARE
#: ``Name(name, KEYWORD)``: the parameter as a keyword to pass (``target=``).
KEYWORD = _Form.KEYWORD


class Name(NamedTuple):
    """A parameter named in a message: ``Name("n_steps")``, ``Name("target", KEYWORD)``
    (``target=``) or ``Name("target", 5)`` (``target=5``)."""

    name: str
    value: Any = BARE


Part = str | Name
Spelling = Callable[[Name], str]


def python_words(part: Name) -> str:
    """How the Python API spells a parameter: ``n_steps``, ``target=``, ``method='x'``."""
    if part.value is BARE:
        return part.name
    if part.value is KEYWORD:
        return f"{part.name}="
    return f"{part.name}={part.value!r}"


class _Worded(Exception):
    """A message made of text and :class:`Name` parts; ``str()`` is Python's words."""

    parts: tuple[Part, ...]
    argument: str | None

    def __init__(self, *parts: Part, argument: str | None = None) -> None:
        self.parts = parts
        names = [p.name for p in parts if isinstance(p, Name)]
        self.argument = argument if argument is not None else (names[0] if names else None)
        super().__init__(self.words(python_words))

    def words(self, spell: Spelling) -> str:
        """The message with each parameter spelled by ``spell``."""
        return "".join(p if isinstance(p, str) else spell(p) for p in self.parts)


class ArgumentError(_Worded, ValueError):
    """A bad value of an argument. ``argument`` is the parameter's name (the first one the
    message names, unless given); ``words(spell)`` the message in another front end's
    spelling of parameters."""


class ArgumentTypeError(_Worded, TypeError):
    """A value of the wrong type for an argument; as :class:`ArgumentError`."""


def in_words(message: BaseException | Warning | str, spell: Spelling) -> str:
    """``message`` with its parameters spelled by ``spell`` (as it is, when it names none)."""
    parts = getattr(message, "parts", None)
    if not isinstance(parts, tuple) or not all(isinstance(p, (str, Name)) for p in parts):
        return str(message)  # not one of cdig's worded messages
    return "".join(p if isinstance(p, str) else spell(p) for p in parts)
