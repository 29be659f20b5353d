"""YAML -> typed, frozen config dataclasses, with `--set key=value` overrides.

Configuration stops at the entry point (STYLE.md §3): the CLI loads a config with
`load_config`, then passes plain keyword arguments to the objects it builds.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml

from .errors import HrtrackError

T = TypeVar("T")

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"


def resolve_config_path(name_or_path: str | Path, folder: str) -> Path:
    """A YAML path as given, or the name of a file in `configs/<folder>/`."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise HrtrackError(f"config file not found: {p}")
        return p
    candidate = CONFIG_ROOT / folder / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    known = sorted(q.stem for q in (CONFIG_ROOT / folder).glob("*.yaml"))
    raise HrtrackError(f"unknown config {str(name_or_path)!r}; known in configs/{folder}/: {', '.join(known)}")


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping with `yaml.safe_load`; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HrtrackError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise HrtrackError(f"{path} is not a text (UTF-8) YAML file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise HrtrackError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise HrtrackError(f"{path}: YAML nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HrtrackError(f"{path} must hold a mapping at top level, got {type(data).__name__}")
    return data


def parse_overrides(pairs: Iterable[str]) -> dict:
    """Turn ["a.b=1", "c=[1,2]"] into a nested dict; values are parsed as YAML scalars."""
    out: dict = {}
    for pair in pairs:
        if "=" not in pair:
            raise HrtrackError(f"--set expects key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        if not key or any(not part for part in key.split(".")):
            raise HrtrackError(f"--set has an empty key in {pair!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except (yaml.YAMLError, RecursionError):
            raise HrtrackError(f"--set value for {key!r} is not a valid value: {raw!r}") from None
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise HrtrackError(f"--set {key}: {part!r} is set both as a value and a section")
        node[parts[-1]] = value
    return out


def merge(base: dict, override: dict) -> dict:
    """Deep-merge `override` into a copy of `base`."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except HrtrackError as exc:
                errors.append(str(exc))
        raise HrtrackError(errors[0] if errors else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise HrtrackError(f"{where}: expected a section (mapping), got {value!r}")
        return from_dict(tp, value, where)
    if origin is typing.Literal:
        if value not in args:
            raise HrtrackError(f"{where}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise HrtrackError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise HrtrackError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        items = [_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise HrtrackError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise HrtrackError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise HrtrackError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # PyYAML reads "1e-4" (no dot) as a string; accept it as the number it means.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HrtrackError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise HrtrackError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {tp!r} at {where}")


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise HrtrackError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], f"{where}.{name}" if where != "config" else name)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise HrtrackError(f"{where}: missing key {missing[0]!r}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict:
    """A config dataclass as plain YAML-able data (tuples become lists)."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    return plain(dataclasses.asdict(cfg))


def load_config(cls: type[T], name_or_path: str | Path, folder: str, overrides: Iterable[str] = ()) -> T:
    """Read a YAML config (a path or a name in configs/<folder>/), apply `--set` overrides, type-check."""
    path = resolve_config_path(name_or_path, folder)
    data = merge(read_yaml(path), parse_overrides(overrides))
    return from_dict(cls, data)


def dump_config(cfg: Any, path: str | Path) -> None:
    """Save the resolved config next to an output, atomically."""
    from .fileio import write_bytes_atomic

    write_bytes_atomic(path, yaml.safe_dump(to_dict(cfg), sort_keys=False).encode("utf-8"))
