"""Key paths into a ruleset's YAML, and the line each starts on, so errors read ``file:line: key.path: ...``.

A problem found while checking the file is raised as ``Invalid`` with its key path; ``located`` turns it (or a
pydantic error's location) into the ``RulesetError`` the caller sees.
"""

from __future__ import annotations

import yaml

from bus.errors import RulesetError

KeyPath = tuple[str | int, ...]


class Invalid(Exception):
    """A problem with the ruleset at ``path`` (keys and list indexes from the top of the file)."""

    def __init__(self, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def located(source: str, node: yaml.Node | None, path: KeyPath, message: str, count: int) -> RulesetError:
    """``source:line: key.path: message``, saying how many further problems there are when ``count > 1``."""
    line = line_of(node, path)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(top)"
    more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
    return RulesetError(f"{source}:{line}: {where}: {message}{more}")


def line_of(node: yaml.Node | None, path: KeyPath) -> int:
    """The 1-based line of the deepest node of ``path`` that exists in the YAML tree."""
    best = node.start_mark.line + 1 if node is not None else 1
    for step in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            child = node.value[step]
        if child is None:
            break
        node, best = child, child.start_mark.line + 1
    return best
