"""The catalog's inline markup, parsed once so every renderer escapes the same way.

A deliberately small subset of Markdown (``hooks/knowledge/narrative.py`` describes it): anything the
parser does not recognise is text, and text is always escaped by the renderer that writes it out.
Data values (codes, names, patterns from the knowledge tables) enter the markup through
:func:`plain`, which escapes every character the parser would read as markup.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    value: str


@dataclass(frozen=True, slots=True)
class Code:
    value: str


@dataclass(frozen=True, slots=True)
class Strong:
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Emphasis:
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Link:
    children: tuple[Inline, ...]
    href: str


@dataclass(frozen=True, slots=True)
class PolicyRef:
    key: str


Inline = Text | Code | Strong | Emphasis | Link | PolicyRef

_LINK = re.compile(r"\[([^\[\]]*)\]\((#[a-z0-9_-]+|https?://[^\s()<>\"']+)\)")
_POLICY = re.compile(r"\{policy:([a-z0-9_.]+)\}")
_SPECIAL = re.compile(r"([\\`*\[\]{}_<>|])")


def plain(value: str) -> str:
    """``value`` as literal text in the markup (a backslash before every markup character)."""
    return _SPECIAL.sub(r"\\\1", value)


def code(value: str) -> str:
    """``value`` as a code span; backticks inside (none in the tables today) fall back to text."""
    return f"`{value}`" if "`" not in value else plain(value)


def linked(label: str, url: str | None) -> str:
    """``label`` as literal text in the markup, a link to ``url`` when there is one."""
    return f"[{plain(label)}]({url})" if url else plain(label)


def policy_keys(text: str) -> list[str]:
    """Every ``{policy:<key>}`` in ``text`` (escaped braces excluded)."""
    return [n.key for n in _walk(parse_inline(text)) if isinstance(n, PolicyRef)]


def _walk(nodes: tuple[Inline, ...]) -> list[Inline]:
    found: list[Inline] = []
    for node in nodes:
        found.append(node)
        if isinstance(node, (Strong, Emphasis, Link)):
            found.extend(_walk(node.children))
    return found


def parse_inline(text: str) -> tuple[Inline, ...]:
    nodes: list[Inline] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            nodes.append(Text("".join(buffer)))
            buffer.clear()

    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            buffer.append(text[i + 1])
            i += 2
            continue
        if char == "`":
            tick = text.find("`", i + 1)
            if tick > i:
                flush()
                nodes.append(Code(text[i + 1:tick]))
                i = tick + 1
                continue
        if text.startswith("**", i):
            strong = _closing(text, "**", i + 2)
            if strong is not None:
                flush()
                nodes.append(Strong(parse_inline(text[i + 2:strong])))
                i = strong + 2
                continue
        elif char == "*":
            emphasis = _closing(text, "*", i + 1)
            if emphasis is not None:
                flush()
                nodes.append(Emphasis(parse_inline(text[i + 1:emphasis])))
                i = emphasis + 1
                continue
        if char == "[":
            link = _LINK.match(text, i)
            if link:
                flush()
                nodes.append(Link(parse_inline(link.group(1)), link.group(2)))
                i = link.end()
                continue
        if char == "{":
            ref = _POLICY.match(text, i)
            if ref:
                flush()
                nodes.append(PolicyRef(ref.group(1)))
                i = ref.end()
                continue
        buffer.append(char)
        i += 1
    flush()
    return tuple(nodes)


def _closing(text: str, delimiter: str, start: int) -> int | None:
    """Index of the delimiter that closes one opened before ``start`` (not escaped, not in code)."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "`":
            end = text.find("`", i + 1)
            i = end + 1 if end > i else i + 1
            continue
        if text.startswith(delimiter, i) and i > start:
            if delimiter == "*" and text.startswith("**", i):
                i += 2
                continue
            return i
        i += 1
    return None


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    children: tuple[Item, ...] = ()


@dataclass(frozen=True, slots=True)
class BulletList:
    items: tuple[Item, ...]


BlockNode = Paragraph | BulletList

_ITEM = re.compile(r"^( *)- (.*)$")
_NOT_IN_SLUG = re.compile(r"[^\w\- ]")


def parse_blocks(text: str) -> tuple[BlockNode, ...]:
    """Paragraphs (separated by a blank line) and bullet lists (``- `` lines, nested by two spaces)."""
    blocks: list[BlockNode] = []
    for chunk in text.split("\n\n"):
        lines = [line for line in chunk.split("\n") if line.strip()]
        paragraph: list[str] = []
        # Each open item: [text, children], by depth.
        roots: list[list[object]] = []
        stack: list[list[object]] = []
        for line in lines:
            item = _ITEM.match(line)
            if item:
                depth = min(len(item.group(1)) // 2, len(stack))
                node: list[object] = [item.group(2).strip(), []]
                del stack[depth:]
                siblings = roots if depth == 0 else stack[-1][1]
                assert isinstance(siblings, list)
                siblings.append(node)
                stack.append(node)
            elif stack:
                stack[-1][0] = f"{stack[-1][0]} {line.strip()}"
            else:
                paragraph.append(line.strip())
        if paragraph:
            blocks.append(Paragraph(" ".join(paragraph)))
        if roots:
            blocks.append(BulletList(tuple(_freeze(n) for n in roots)))
    return tuple(blocks)


def _freeze(node: list[object]) -> Item:
    text, children = node
    assert isinstance(text, str) and isinstance(children, list)
    return Item(text, tuple(_freeze(c) for c in children))


class Writer(ABC):
    """Writes the markup in one output format: the walk over the parsed nodes is here, once; a
    format says how each kind of node looks (and escapes its text its own way)."""

    def inline(self, text: str) -> str:
        return self._join(parse_inline(text))

    def blocks(self, text: str) -> list[str]:
        return [self.bullets(b.items) if isinstance(b, BulletList) else self.paragraph(self.inline(b.text))
                for b in parse_blocks(text)]

    def citation(self, label: str, url: str | None) -> str:
        """A source's label as text, linked to its address when it has one."""
        return self.link(self.text(label), url) if url else self.text(label)

    def _join(self, nodes: tuple[Inline, ...]) -> str:
        return "".join(self._node(n) for n in nodes)

    def _node(self, node: Inline) -> str:
        if isinstance(node, Text):
            return self.text(node.value)
        if isinstance(node, Code):
            return self.code(node.value)
        if isinstance(node, Strong):
            return self.strong(self._join(node.children))
        if isinstance(node, Emphasis):
            return self.emphasis(self._join(node.children))
        if isinstance(node, Link):
            return self.link(self._join(node.children), node.href)
        return self.policy(node.key)

    @abstractmethod
    def text(self, value: str) -> str: ...

    @abstractmethod
    def code(self, value: str) -> str: ...

    @abstractmethod
    def strong(self, inner: str) -> str: ...

    @abstractmethod
    def emphasis(self, inner: str) -> str: ...

    @abstractmethod
    def link(self, inner: str, href: str) -> str: ...

    @abstractmethod
    def policy(self, key: str) -> str: ...

    @abstractmethod
    def paragraph(self, inner: str) -> str: ...

    @abstractmethod
    def bullets(self, items: tuple[Item, ...]) -> str: ...


def slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return _NOT_IN_SLUG.sub("", title.lower()).replace(" ", "-")
