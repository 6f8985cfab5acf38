"""One typed definition of each user setting: default, choices, bounds and help as data.

A settings dataclass declares its fields with `option(...)`; the CLI builds its arguments
from `options_of(cls)`, the GUI reads the same choices and bounds, `validate_options` checks
a value against them, and the report's re-run command is written from them
(`command_line`). No layer restates a default or a list of choices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from forensics_app.core.errors import ForensicsError


@dataclass(frozen=True)
class OptionSpec:
    name: str  # the dataclass field
    flag: str | None  # "--frames"; None: not on the command line
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    bounds: tuple[float, float] | None = None  # inclusive
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # text → value (None: the default's type)
    format: Callable[[Any], str] | None = None  # value → text (re-run command)

    def argparse_kwargs(self, default: Any = dataclasses.MISSING) -> dict[str, Any]:
        """Keyword arguments of `ArgumentParser.add_argument(self.flag, ...)`."""
        default = self.default if default is dataclasses.MISSING else default
        shown = self.default if self.default is not None else "none"
        kwargs: dict[str, Any] = {"default": default, "dest": self.name,
                                  "help": f"{self.help} ({shown})"}
        if self.choices is not None:
            kwargs["choices"] = self.choices
        kwargs["type"] = self.parse or (type(self.default) if self.default is not None
                                        else str)
        if self.metavar:
            kwargs["metavar"] = self.metavar
        return kwargs

    def text(self, value: Any) -> str:
        return self.format(value) if self.format else str(value)


def option(default: Any, help: str, *, flag: str | bool | None = True,
           choices: Sequence[Any] | None = None, bounds: tuple[float, float] | None = None,
           metavar: str | None = None, parse: Callable[[str], Any] | None = None,
           format: Callable[[Any], str] | None = None) -> Any:
    """A dataclass field carrying its own definition (flag True: `--field-name`)."""
    meta = {"option": dict(help=help, flag=flag, choices=tuple(choices) if choices else None,
                           bounds=bounds, metavar=metavar, parse=parse, format=format)}
    return field(default=default, metadata=meta)


def options_of(cls: type) -> list[OptionSpec]:
    specs = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("option")
        if meta is None:
            continue
        flag = meta["flag"]
        if flag is True:
            flag = "--" + f.name.replace("_", "-")
        specs.append(OptionSpec(f.name, flag or None, f.default, meta["help"], meta["choices"],
                                meta["bounds"], meta["metavar"], meta["parse"], meta["format"]))
    return specs


def spec(cls: type, name: str) -> OptionSpec:
    for s in options_of(cls):
        if s.name == name:
            return s
    raise KeyError(name)


def validate_options(obj: Any) -> None:
    """ForensicsError naming the command-line flag of the first value out of its definition."""
    for s in options_of(type(obj)):
        value = getattr(obj, s.name)
        label = s.flag or s.name
        if s.choices is not None and value not in s.choices:
            raise ForensicsError(f"{label} must be one of {', '.join(map(str, s.choices))}, "
                                 f"not {value!r}")
        if s.bounds is not None and value is not None and not s.bounds[0] <= value <= s.bounds[1]:
            low, high = (int(b) if float(b).is_integer() else b for b in s.bounds)
            raise ForensicsError(f"{label} must be between {low} and {high}, not {value}")


def from_namespace(cls: type, namespace: Any, **extra: Any) -> Any:
    """An instance from parsed arguments (attributes named like the fields)."""
    values = {s.name: getattr(namespace, s.name) for s in options_of(cls)
              if s.flag and hasattr(namespace, s.name)}
    return cls(**values, **extra)


def command_line(cls: type, values: dict[str, Any], names: Sequence[str]) -> list[str]:
    """`--flag value` pairs of `names` (skipping None), in the definitions' own spelling."""
    out: list[str] = []
    for s in options_of(cls):
        if s.name in names and s.flag and values.get(s.name) is not None:
            out += [s.flag, s.text(values[s.name])]
    return out
