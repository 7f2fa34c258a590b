"""The ``search_runs`` filter language: tokenizer, parser and their errors.

A filter is a list of conditions joined by ``and`` (``or`` is refused with a hint to run two
searches), in the MLflow dialect: ``metrics.auc > 0.9 and params.num_leaves = '31'``.
:func:`parse_filter` turns it into typed :class:`Clause` values and :func:`parse_order_by`
turns ``order_by`` items into :class:`OrderKey` values; :mod:`modelyard.store.search` compiles
both to SQL. A malformed filter raises :class:`~modelyard.errors.InvalidArgument` quoting the
filter with a caret under the offending character. See ``docs/search.md`` for the grammar.

>>> [c.key for c in parse_filter("metrics.auc > 0.9 and params.num_leaves = 31")]
['auc', 'num_leaves']
>>> parse_filter("params.num_leaves = 31")[0].value
'31'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from modelyard.errors import InvalidArgument

__all__ = [
    "MAX_RESULTS_LIMIT",
    "RUN_STATUSES",
    "Clause",
    "OrderKey",
    "parse_filter",
    "parse_order_by",
]

#: Largest ``max_results`` one search may ask for.
MAX_RESULTS_LIMIT: Final = 50_000
#: The values ``attributes.status`` compares against.
RUN_STATUSES: Final = ("RUNNING", "FINISHED", "FAILED", "KILLED")

_PLURAL: Final = {kind: kind + "s" for kind in ("metric", "param", "tag", "attribute", "dataset")}
# prefix as written (lowercased) -> kind
_PREFIXES: Final = {
    **{k: k for k in _PLURAL},
    **{v: k for k, v in _PLURAL.items()},
    "attr": "attribute",
}
# attribute name -> (runs column, value type); run_name is an alias of name.
_ATTRIBUTES: Final = {
    "status": ("status", "status"),
    "name": ("name", "string"),
    "run_name": ("name", "string"),
    "run_id": ("run_id", "string"),
    "start_time": ("start_time", "time"),
    "end_time": ("end_time", "time"),
    "user": ("user", "string"),
    "parent_run_id": ("parent_run_id", "string"),
}
_NULLABLE_ATTRIBUTES: Final = frozenset({"end_time", "parent_run_id"})
# datasets.<field> -> run_datasets column
_DATASET_FIELDS: Final = {"digest": "dataset_digest", "name": "name", "context": "context"}

_COMPARE: Final = ("=", "!=", "<", "<=", ">", ">=")
_PATTERN: Final = ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE")
_MEMBER: Final = ("IN", "NOT IN")
_NULL: Final = ("IS NULL", "IS NOT NULL")
_NEGATED: Final = frozenset({"!=", "NOT IN", "NOT LIKE", "NOT ILIKE"})
_STRING_OPS: Final = ("=", "!=", *_PATTERN, *_MEMBER)

_EXAMPLE: Final = "metrics.auc > 0.9 and params.num_leaves = '31'"
_KEY_CHARS: Final = re.compile(r"[A-Za-z0-9_\-./]+")
_WORD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER: Final = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NUMBER_STARTS: Final = frozenset(".0123456789")
_INTEGER: Final = re.compile(r"[-+]?\d+")
_HEX_DIGEST: Final = re.compile(r"[0-9a-f]{4,64}")


@dataclass(frozen=True)
class Clause:
    """One parsed condition of a filter, its value already typed for its kind.

    ``kind`` is ``metric``, ``param``, ``tag``, ``attribute`` or ``dataset``; ``op`` is one of
    ``= != < <= > >= LIKE ILIKE NOT LIKE NOT ILIKE IN NOT IN IS NULL IS NOT NULL``; ``value``
    is a float (metrics), a str (params, tags, string attributes, datasets), an int (times),
    a tuple of those for ``IN``, or None for ``IS NULL``; ``position`` is the 0-based index of
    the condition in the filter text.
    """

    kind: str
    key: str
    op: str
    value: object
    position: int


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` item: sort by ``kind``/``key``, descending or not."""

    kind: str
    key: str
    descending: bool


# -- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ident word string number op ( ) , bad end
    text: str
    pos: int
    value: Any = None  # ident: (kind, key, key_pos); string: str; number: raw text

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the text"
        if self.kind == "string":
            return f"the string {self.text}"
        if self.kind == "number":
            return f"the number {self.text}"
        return repr(self.text)


def _syntax_error(text: str, what: str, pos: int, problem: str, hint: str) -> InvalidArgument:
    """An InvalidArgument quoting ``text`` with a caret under ``pos``."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    column = pos - line_start
    where = f"at position {pos}"
    if "\n" in text:
        where += f" (line {text.count(chr(10), 0, pos) + 1}, column {column + 1})"
    shown = line.replace("\t", " ").replace("\r", " ")
    message = f"invalid {what} {where}: {problem}\n    {shown}\n    {' ' * column}^"
    return InvalidArgument(message, hint=hint)


class _Lexer:
    """Cuts a filter into tokens on demand, so the first error in the text is the one reported."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.pos = 0

    def error(self, pos: int, problem: str, hint: str) -> InvalidArgument:
        return _syntax_error(self.text, self.what, pos, problem, hint)

    def next(self) -> _Token:
        text, n = self.text, len(self.text)
        i = self.pos
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            self.pos = n
            return _Token("end", "", n)
        c = text[i]
        if c in "(),":
            self.pos = i + 1
            return _Token(c, c, i)
        if c in "=!<>":
            two = text[i : i + 2]
            op = two if two in ("!=", "<=", ">=", "==", "<>") else c
            self.pos = i + len(op)
            return _Token("op", op, i)
        if c in "'\"":
            value, end = self._quoted(i, "string")
            self.pos = end
            return _Token("string", text[i:end], i, value)
        if c.isdigit() or (c in "+-." and text[i + 1 : i + 2] in _NUMBER_STARTS):
            return self._number(i)
        if c.isalpha() or c == "_":
            return self._word(i)
        self.pos = i + 1
        return _Token("bad", c, i)

    def _quoted(self, start: int, thing: str) -> tuple[str, int]:
        """Read a quoted string or key opened at ``start``; return (value, end index)."""
        text, n, quote = self.text, len(self.text), self.text[start]
        out: list[str] = []
        i = start + 1
        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n and text[i + 1] in "\\'\"`":
                out.append(text[i + 1])
                i += 2
            elif c == quote:
                if i + 1 < n and text[i + 1] == quote:
                    out.append(quote)
                    i += 2
                else:
                    return "".join(out), i + 1
            else:
                out.append(c)
                i += 1
        raise self.error(
            start,
            f"unclosed {thing}: the {quote} opened here is never closed",
            f"close it with {quote}; write the quote itself inside as {quote}{quote} or \\{quote}, "
            "e.g. tags.note = 'it''s'",
        )

    def _number(self, i: int) -> _Token:
        text = self.text
        m = _NUMBER.match(text, i)
        end = m.end() if m else i
        after = text[end : end + 1]
        if m is None or (after and (after.isalnum() or after in "._")):
            stop = end
            while stop < len(text) and not text[stop].isspace() and text[stop] not in "(),":
                stop += 1
            raise self.error(
                i,
                f"malformed number {text[i:stop]!r}",
                "write numbers like 31, -1.5, 0.9 or 1e-3; quote text: params.version = '1.2.3'",
            )
        self.pos = end
        return _Token("number", m.group(), i, m.group())

    def _word(self, i: int) -> _Token:
        text, n = self.text, len(self.text)
        m = _WORD.match(text, i)
        end = m.end() if m else i + 1
        word = text[i:end]
        if end >= n or text[end] != ".":
            self.pos = end
            return _Token("word", word, i)
        kind = _PREFIXES.get(word.lower())
        if kind is None:
            raise self.error(
                i,
                f"unknown prefix {word + '.'!r}; expected metrics., params., tags., attributes. "
                "or datasets.",
                f"name a key with its kind, e.g. {_EXAMPLE}",
            )
        key_pos = end + 1
        if key_pos < n and text[key_pos] in '`"':
            key, stop = self._quoted(key_pos, "key")
            if not key:
                raise self.error(key_pos, "empty key", f"name the key, e.g. {word}.`val loss`")
        else:
            km = _KEY_CHARS.match(text, key_pos)
            if km is None:
                raise self.error(
                    key_pos,
                    f"expected a key after {word + '.'!r}",
                    f"write {word}.<key>, e.g. {word}.auc; quote odd keys: {word}.`val loss`",
                )
            key, stop = km.group(), km.end()
        self.pos = stop
        return _Token("ident", text[i:stop], i, (kind, key, key_pos))


# -- parser -------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, what: str) -> None:
        self.lexer = _Lexer(text, what)
        self.tok = self.lexer.next()

    def advance(self) -> _Token:
        tok = self.tok
        self.tok = self.lexer.next()
        return tok

    def error(self, pos: int, problem: str, hint: str) -> InvalidArgument:
        return self.lexer.error(pos, problem, hint)

    def identifier(self, expected: str) -> tuple[str, str, _Token]:
        """Read ``prefix.key`` or a bare attribute name; return (kind, key, token)."""
        tok = self.tok
        if tok.kind == "ident":
            kind, key, key_pos = tok.value
            if kind == "attribute":
                key = self._attribute(key, key_pos)
            elif kind == "dataset" and key.lower() not in _DATASET_FIELDS:
                raise self.error(
                    key_pos,
                    f"unknown dataset field {key!r}; expected one of {', '.join(_DATASET_FIELDS)}",
                    "e.g. datasets.name = 'train' or datasets.digest LIKE '4f2a%'",
                )
            elif kind == "dataset":
                key = key.lower()
            self.advance()
            return kind, key, tok
        if tok.kind == "word" and tok.text.lower() in _ATTRIBUTES:
            self.advance()
            return "attribute", self._attribute(tok.text, tok.pos), tok
        if tok.is_word(*_PLURAL.values(), *_PLURAL):
            raise self.error(
                tok.pos,
                f"{tok.text!r} needs a key: {tok.text}.<key>",
                f"e.g. {tok.text}.auc; quote odd keys: {tok.text}.`val loss`",
            )
        if tok.kind == "word" and tok.text.lower() in ("or", "and"):
            problem = f"expected {expected}, found the keyword {tok.text!r}"
        elif tok.kind == "word":
            problem = (
                f"expected {expected}, found {tok.text!r}, which is neither a prefixed key "
                f"nor an attribute ({', '.join(_ATTRIBUTES)})"
            )
        else:
            problem = f"expected {expected}, found {tok.describe()}"
        raise self.error(tok.pos, problem, f"a valid filter looks like: {_EXAMPLE}")

    def _attribute(self, name: str, pos: int) -> str:
        spec = _ATTRIBUTES.get(name.lower())
        if spec is None:
            raise self.error(
                pos,
                f"unknown attribute {name!r}; expected one of {', '.join(_ATTRIBUTES)}",
                "e.g. attributes.status = 'FINISHED' or attributes.start_time > 1700000000000",
            )
        return spec[0]

    def operator(self, ident: _Token) -> tuple[str, _Token]:
        tok = self.tok
        expected = "an operator (= != < <= > >= LIKE ILIKE IN NOT IN IS NULL)"
        hint = f"compare a key with a value, e.g. {_EXAMPLE}"
        if tok.kind == "op":
            if tok.text == "==":
                raise self.error(tok.pos, "'==' is not an operator; use '='", hint)
            if tok.text == "<>":
                raise self.error(tok.pos, "'<>' is not an operator; use '!='", hint)
            if tok.text == "!":
                raise self.error(tok.pos, "'!' is not an operator; use '!=' or NOT IN", hint)
            self.advance()
            return tok.text, tok
        if tok.is_word("like", "ilike", "in"):
            self.advance()
            return tok.text.upper(), tok
        if tok.is_word("not"):
            self.advance()
            if not self.tok.is_word("like", "ilike", "in"):
                raise self.error(
                    self.tok.pos,
                    f"expected LIKE, ILIKE or IN after NOT, found {self.tok.describe()}",
                    "e.g. params.optimizer NOT IN ('sgd', 'adam') or tags.team NOT LIKE 'ml%'",
                )
            return "NOT " + self.advance().text.upper(), tok
        if tok.is_word("is"):
            self.advance()
            negated = self.tok.is_word("not")
            if negated:
                self.advance()
            if not self.tok.is_word("null"):
                raise self.error(
                    self.tok.pos,
                    f"expected NULL after IS{' NOT' if negated else ''}, found "
                    f"{self.tok.describe()}",
                    "e.g. attributes.end_time IS NULL",
                )
            self.advance()
            return ("IS NOT NULL" if negated else "IS NULL"), tok
        found = tok.describe()
        raise self.error(tok.pos, f"expected {expected} after {ident.text}, found {found}", hint)

    def literal(self, after: str) -> _Token:
        tok = self.tok
        if tok.kind in ("string", "number"):
            self.advance()
            return tok
        hint = "quote text: attributes.status = 'FINISHED'; numbers go bare: metrics.auc > 0.9"
        if tok.is_word("nan", "inf", "infinity"):
            problem = f"{tok.text} is not a value a condition can match"
            hint = "NaN metrics never match a comparison; use metrics.loss IS NOT NULL for logged"
        elif tok.kind == "word" and not tok.is_word("and", "or"):
            problem = f"expected a value after {after}, found the bare word {tok.text!r}"
            hint = f"quote text values: ... {after} '{tok.text}'"
        else:
            problem = f"expected a value (a number or a quoted string) after {after}, found "
            problem += tok.describe()
        raise self.error(tok.pos, problem, hint)

    def values(self, op: str) -> list[_Token]:
        """Read the parenthesised list after IN / NOT IN."""
        example = "e.g. params.optimizer IN ('sgd', 'adam')"
        if self.tok.kind != "(":
            raise self.error(
                self.tok.pos,
                f"expected '(' after {op}, found {self.tok.describe()}",
                f"list the values in parentheses, {example}",
            )
        self.advance()
        if self.tok.kind == ")":
            raise self.error(self.tok.pos, f"empty {op} list: it needs at least one value", example)
        out = [self.literal(f"{op} (")]
        while self.tok.kind == ",":
            comma = self.advance()
            if self.tok.kind == ")":
                raise self.error(self.tok.pos, "expected a value after ',', found ')'", example)
            out.append(self.literal(comma.text))
        if self.tok.kind != ")":
            raise self.error(
                self.tok.pos,
                f"expected ',' or ')' in the {op} list, found {self.tok.describe()}",
                example,
            )
        self.advance()
        return out

    def clause(self) -> Clause:
        kind, key, ident = self.identifier("a condition such as metrics.auc > 0.9")
        op, op_tok = self.operator(ident)
        _check_operator(self, kind, key, op, op_tok)
        value: object
        if op in _NULL:
            value = None
        elif op in _MEMBER:
            value = tuple(_typed(self, kind, key, op, tok) for tok in self.values(op))
        else:
            value = _typed(self, kind, key, op, self.literal(op))
        return Clause(kind, key, op, value, ident.pos)


def _allowed_operators(kind: str, key: str) -> tuple[str, ...]:
    if kind == "metric":
        return (*_COMPARE, *_MEMBER, *_NULL)
    if kind in ("param", "tag"):
        return (*_STRING_OPS, *_NULL)
    if kind == "dataset":
        return _STRING_OPS
    kind_of = _ATTRIBUTES[key][1]
    ops = (*_COMPARE, *_MEMBER) if kind_of == "time" else _STRING_OPS
    return (*ops, *_NULL) if key in _NULLABLE_ATTRIBUTES else ops


def _check_operator(p: _Parser, kind: str, key: str, op: str, tok: _Token) -> None:
    allowed = _allowed_operators(kind, key)
    if op in allowed:
        return
    if kind == "metric":
        problem = f"{op} does not apply to metrics: metrics are numbers; compare with "
        problem += "= != < <= > >= IN"
        hint = "e.g. metrics.auc >= 0.9"
    elif kind in ("param", "tag"):
        problem = f"{op} does not apply to {kind}s: {kind}s are strings; compare with = != LIKE IN"
        example = "params.optimizer = 'adam'" if kind == "param" else "tags.team = 'ml'"
        hint = f"e.g. {example}; to compare numbers, log the value as a metric"
    elif kind == "dataset":
        problem = f"{op} does not apply to datasets.{key}; compare with = != LIKE ILIKE IN NOT IN"
        hint = "e.g. datasets.name = 'train' or datasets.digest LIKE '4f2a%'"
    else:
        shown = " ".join(o for o in allowed if not o.startswith("NOT ") and o != "IS NOT NULL")
        problem = f"{op} does not apply to attributes.{key}; it takes {shown}"
        hint = {
            "time": "times are integer milliseconds, e.g. attributes.start_time > 1700000000000",
            "status": "e.g. attributes.status = 'FINISHED'",
        }.get(_ATTRIBUTES[key][1], f"e.g. attributes.{key} = 'some value'")
    raise p.error(tok.pos, problem, hint)


def _typed(p: _Parser, kind: str, key: str, op: str, tok: _Token) -> object:
    """The value of literal ``tok`` converted to what ``kind``/``key`` compares against."""
    if kind == "metric":
        if tok.kind != "number":
            raise p.error(
                tok.pos,
                f"metrics are numbers; found {tok.describe()}",
                "compare metrics with bare numbers, e.g. metrics.auc > 0.9",
            )
        number = float(tok.value)
        if not math.isfinite(number):
            raise p.error(tok.pos, f"{tok.text} is not a finite number", "e.g. metrics.loss < 1e6")
        return number
    text = tok.value if tok.kind == "string" else tok.text
    if op in _PATTERN and _ends_with_escape(text):
        raise p.error(
            tok.pos,
            "the pattern ends with an unescaped backslash",
            r"a backslash escapes the next character of a pattern: '100\%' matches '100%'",
        )
    if kind == "attribute":
        kind_of = _ATTRIBUTES[key][1]
        if kind_of == "time":
            return _milliseconds(p, key, tok)
        if kind_of == "status" and op not in _PATTERN:
            status = text.upper()
            if status not in RUN_STATUSES:
                raise p.error(
                    tok.pos,
                    f"unknown run status {text!r}; expected one of {', '.join(RUN_STATUSES)}",
                    "e.g. attributes.status IN ('FAILED', 'KILLED')",
                )
            return status
    if kind == "dataset" and key == "digest" and op not in _PATTERN:
        digest = text.lower()
        if not _HEX_DIGEST.fullmatch(digest):
            raise p.error(
                tok.pos,
                f"expected a hex digest (4 to 64 characters), found {tok.describe()}",
                "give the digest or its first characters: datasets.digest = '4f2a9c'",
            )
        return digest
    return text


def _milliseconds(p: _Parser, key: str, tok: _Token) -> int:
    hint = f"times are integer milliseconds since the epoch, e.g. attributes.{key} > 1700000000000"
    if tok.kind != "number":
        raise p.error(tok.pos, f"attributes.{key} is a time; found {tok.describe()}", hint)
    if _INTEGER.fullmatch(tok.text):
        return int(tok.text)
    number = float(tok.text)
    if not math.isfinite(number) or not number.is_integer():
        raise p.error(tok.pos, f"attributes.{key} needs whole milliseconds; found {tok.text}", hint)
    return int(number)


def _ends_with_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def parse_filter(text: str | None) -> list[Clause]:
    """Parse a filter into its conditions; None or blank text means no condition.

    >>> parse_filter("attributes.status = 'finished'")
    [Clause(kind='attribute', key='status', op='=', value='FINISHED', position=0)]
    """
    if text is None:
        return []
    if not isinstance(text, str):
        got = type(text).__name__
        raise InvalidArgument(f"filter must be a string, not {got}", hint=f"e.g. {_EXAMPLE}")
    if not text.strip():
        return []
    p = _Parser(text, "filter")
    clauses = [p.clause()]
    while p.tok.kind != "end":
        tok = p.tok
        if tok.is_word("or"):
            raise p.error(
                tok.pos,
                "OR is not supported: conditions can only be combined with AND",
                "run two searches, one per side of the OR, and merge their run ids",
            )
        if not tok.is_word("and"):
            raise p.error(
                tok.pos,
                f"expected AND or the end of the filter, found {tok.describe()}",
                f"join conditions with and: {_EXAMPLE}",
            )
        p.advance()
        if p.tok.kind == "end":
            raise p.error(
                tok.pos,
                "trailing AND: expected a condition after it, found the end of the filter",
                f"remove the AND or add a condition: {_EXAMPLE}",
            )
        clauses.append(p.clause())
    return clauses


def parse_order_by(items: Sequence[str]) -> list[OrderKey]:
    """Parse ``order_by`` items such as ``metrics.auc desc`` or ``start_time``.

    >>> parse_order_by(["metrics.auc desc"])
    [OrderKey(kind='metric', key='auc', descending=True)]
    """
    if isinstance(items, str):
        items = [items]
    keys: list[OrderKey] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgument(
                f"order_by items must be strings, not {type(item).__name__}",
                hint="e.g. order_by=['metrics.auc desc', 'attributes.start_time']",
            )
        p = _Parser(item, f"order_by item {item!r}")
        kind, key, ident = p.identifier("a key such as metrics.auc or attributes.start_time")
        if kind == "dataset":
            raise p.error(
                ident.pos,
                "runs cannot be ordered by a dataset field",
                "order by metrics.<key>, params.<key>, tags.<key> or an attribute",
            )
        descending = False
        if p.tok.is_word("asc", "desc"):
            descending = p.advance().text.lower() == "desc"
        if p.tok.kind != "end":
            raise p.error(
                p.tok.pos,
                f"expected ASC, DESC or the end of the item, found {p.tok.describe()}",
                "one key per item, e.g. order_by=['metrics.auc desc', 'params.lr']",
            )
        keys.append(OrderKey(kind, key, descending))
    return keys
