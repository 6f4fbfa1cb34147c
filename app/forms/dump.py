"""YAML as people write issue forms: keys in their order, multi-line text as `|` blocks."""

from __future__ import annotations

from typing import Any

import yaml


class _FormDumper(yaml.SafeDumper):
    """Block style, lists indented under their key, long lines left as they are."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FormDumper.add_representer(str, _text)


def dump(data: Any) -> str:
    """`data` as YAML text that reads like a hand-written form."""
    return yaml.dump(
        data, Dumper=_FormDumper, sort_keys=False, allow_unicode=True, width=10_000, indent=2
    )
