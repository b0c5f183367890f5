"""Read a workspace file: YAML with line numbers kept for every key, and ``${ENV_VAR}`` secrets."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

Path = tuple[str | int, ...]
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class FileError(Exception):
    """A problem in the file, with the line and key it is about."""

    def __init__(self, problems: list[tuple[int | None, str, str]]) -> None:
        self.problems = problems  # (line, key path, message)
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for line, key, message in self.problems:
            where = f"line {line}" if line else "file"
            lines.append(f"{where}: {key + ': ' if key else ''}{message}")
        return "\n".join(lines)


class _LineLoader(yaml.SafeLoader):
    pass


def _compose(loader: _LineLoader, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                raise FileError([(key_node.start_mark.line + 1, "", "keys must be plain text")])
            if key in out:
                raise FileError([(key_node.start_mark.line + 1, _dotted((*path, key)),
                                  "this key appears twice")])
            out[key] = _compose(loader, value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_compose(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load(text: str) -> tuple[dict[str, Any], dict[Path, int]]:
    """The document as plain data, and the line of every key path in it."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise FileError([(None, "", "the file is empty")])
        lines: dict[Path, int] = {}
        data = _compose(loader, node, (), lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise FileError([(mark.line + 1 if mark else None, "",
                          f"not valid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise FileError([(None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise FileError([(1, "", "the file must be a mapping of sections (workspace:, panel:, …)")])
    return data, lines


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: Mapping[Path, int], path: Path) -> int | None:
    """The line of ``path`` or of its nearest ancestor in the file."""
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        path = path[:-1]


def substitute_env(
    data: Any, lines: Mapping[Path, int], env: Mapping[str, str] | None = None, path: Path = ()
) -> Any:
    """Replace ``${VAR}`` in every string with the variable's value; a missing one is an error."""
    env = os.environ if env is None else env
    problems: list[tuple[int | None, str, str]] = []

    def walk(value: Any, at: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*at, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*at, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            def repl(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in env:
                    problems.append((line_of(lines, at), _dotted(at),
                                     f"environment variable {name} is not set"))
                    return ""
                return env[name]
            return ENV_REF.sub(repl, value)
        return value

    result = walk(data, path)
    if problems:
        raise FileError(problems)
    return result


def dotted(path: Path) -> str:
    return _dotted(path)
