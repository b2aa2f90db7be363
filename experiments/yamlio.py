"""Reading configs: strict YAML (a repeated key is an error) into mappings, each error one line.
Light on purpose (no torch): listing a sweep's layout needs only this."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

SECTIONS = ("data", "model", "train")


class StrictLoader(yaml.SafeLoader):
    """yaml's SafeLoader, but a key repeated in one mapping is an error (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        lines: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = key in lines
            except TypeError:                          # an unhashable key: SafeLoader says so itself
                continue
            if seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (first at line {lines[key] + 1})",
                    key_node.start_mark)
            lines[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str) -> Any:
    """``text`` parsed by :class:`StrictLoader`; a one-line ValueError naming ``where`` and the line."""
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        since = err.context_mark and err.context_mark.line != getattr(mark, "line", None)
        context = err.context and err.context + (f" from line {err.context_mark.line + 1}" if since else "")
        why = "; ".join(str(x) for x in (err.problem, context) if x) or "unreadable"
        raise ValueError(f"{where}: invalid YAML{at}: {' '.join(why.split())}") from None
    except yaml.reader.ReaderError as err:               # a character YAML does not allow
        line = text[:err.position].count("\n") + 1 if isinstance(text, str) else "?"
        char = chr(err.character) if isinstance(err.character, int) else err.character
        raise ValueError(f"{where}: invalid YAML at line {line}: character {char!r}: {err.reason}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{where}: invalid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise ValueError(f"{where}: invalid YAML: nested too deeply") from None


def read_yaml(path: str | Path, what: str = "config") -> dict:
    """A YAML file that must hold a mapping; one-line ValueError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} file {str(path)!r} is a folder; expected a YAML file")
    if not path.is_file():
        raise ValueError(f"{what} file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} file {str(path)!r} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise ValueError(f"{what} file {str(path)!r} cannot be read: {err.strerror or err}") from None
    raw = parse_yaml(text, f"{what} {str(path)!r}")
    raw = {} if raw is None else raw                   # an empty file
    if not isinstance(raw, dict):
        raise ValueError(f"{what} {str(path)!r}: expected a mapping of keys, not {type(raw).__name__} {raw!r:.40}")
    return raw


def section(config: Mapping, name: str, where: str = "config") -> Mapping:
    """``config[name]`` (missing or null: empty), which must be a mapping with string keys."""
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: section {name}={value!r} is not allowed; expected a mapping of keys")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise ValueError(f"{name}: key {bad[0]!r} is not allowed; expected a name (a string)")
    return value
