"""A service's rules file: YAML, validated by a pydantic model, every error with path and line.

Operators edit these files by hand (and as a Kubernetes ConfigMap); a mistake must stop the
service at start, naming the file, the line and what is wrong, never run with half the rules.
YAML because it carries comments and every node's line; pydantic because it says precisely
which field is wrong. The line of an error is found by walking the YAML node tree along the
error's location."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class ConfigFileError(ValueError):
    """What is wrong with a rules file, one problem per line: ``<path>:<line>: <field>: <msg>``."""


def load(path: Path, model: type[Model], *, context: dict | None = None) -> Model:
    """``context``: what the model's validators may check against (pydantic's context)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse(text, model, source=str(path), context=context)


def parse(text: str, model: type[Model], *, source: str, context: dict | None = None) -> Model:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigFileError(f"{source}{line}: not valid YAML: {_problem(exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigFileError(f"{source}:1: expected a mapping of settings at the top")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = [
            f"{source}:{_line_of(root, error['loc'])}: {_where(error['loc'])}: {error['msg']}"
            for error in exc.errors()
        ]
        raise ConfigFileError("\n".join(problems)) from exc


def _problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).strip()


def _where(loc: tuple) -> str:
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or "(top)"


def _line_of(node: yaml.Node | None, loc: tuple) -> int:
    """The line of the deepest node along ``loc`` that exists (a missing field: its parent's)."""
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
            key = next((k for k, _ in node.value if k.value == part), None)
            if key is not None:
                line = key.start_mark.line + 1
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
