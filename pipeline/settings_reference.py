"""The settings reference (docs/settings.md), generated from the config classes' field descriptions.

    python -m pipeline.settings_reference > docs/settings.md

``tests/test_settings_reference.py`` fails when the file differs from what this prints, so the
reference cannot drift from ``pipeline/config.py``, ``trainer/config.py`` and ``components/registry/config.py``.
"""

from __future__ import annotations

import json
import typing
from typing import Any, Iterator, List, Tuple

import pydantic
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from pipeline.config import PipelineConfig

HEADER = """# Settings

Every setting of a config file (`pipeline/configs/*.yaml`, or any YAML file given by path), with
its type, its default and what it does. Generated from the config classes by
`python -m pipeline.settings_reference > docs/settings.md`; a test fails when it is stale.
See `docs/configs.md` for the shipped configs, `extends:` and recipes.

| setting | type | default | description |
| --- | --- | --- | --- |
"""


def _section(annotation: Any) -> Any:
    """The config section class inside ``annotation`` (``Optional[X]`` included), or None."""
    candidates = [annotation, *typing.get_args(annotation)]
    return next(
        (c for c in candidates if isinstance(c, type) and issubclass(c, pydantic.BaseModel)),
        None,
    )


def _type_name(annotation: Any) -> str:
    """A short, readable name of a setting's type: ``int``, ``str or null``, ``"lars" / "sgd"``, ``list[str]``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Union:
        present = [arg for arg in args if arg is not type(None)]
        name = " or ".join(_type_name(arg) for arg in present)
        return f"{name} or null" if len(present) < len(args) else name
    if origin is typing.Literal:
        return " / ".join(json.dumps(arg) for arg in args)
    if origin in (list, tuple, dict):
        inner = ", ".join("..." if arg is Ellipsis else _type_name(arg) for arg in args)
        return f"{origin.__name__}[{inner}]"
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, pydantic.BaseModel):
        return ""
    return f"`{json.dumps(value, default=str)}`"


def rows(model: Any, prefix: str = "") -> Iterator[Tuple[str, str, str, str]]:
    """(setting, type, default, description) for every setting of ``model``, sections recursed into."""
    for name, field in model.model_fields.items():
        section = _section(field.annotation)
        setting = f"{prefix}{name}"
        description = " ".join((field.description or "").split())
        if section is not None:
            if description or field.default is None:
                yield setting, "section", "" if field.default is not None else "`null`", description
            yield from rows(section, f"{setting}.")
            continue
        yield setting, _type_name(field.annotation), _default(field), description


def render() -> str:
    lines: List[str] = [HEADER.rstrip("\n")]
    for setting, type_name, default, description in rows(PipelineConfig):
        cells = [f"`{setting}`", type_name.replace("|", "\\|"), default.replace("|", "\\|"), description]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
