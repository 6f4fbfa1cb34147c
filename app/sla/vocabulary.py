"""The team's vocabulary: request types with their forms, the built-in ones, and the checks
and defaults that follow a policy's own priorities and types."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import StringConstraints, field_validator

from app.sla.domain import KEY, RequestType
from app.sla.policy_file import Loc, PolicyProblem, dotted, line_of
from app.sla.policy_sections import LabelSpec

if TYPE_CHECKING:
    from app.sla.policy import Policy


FormElement = dict[str, Any]
# The element types of GitHub's issue forms (docs: syntax-for-githubs-form-schema).
_ELEMENTS = ("markdown", "textarea", "input", "dropdown", "checkboxes")


class TypeSpec(LabelSpec):
    """One request type: its name, label, the form's description (`about`), a `note` under
    the form's priorities, and the form's fields (GitHub's issue-form elements)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | (
        None
    ) = None
    about: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = (
        "A request to the support team."
    )
    note: str | None = None
    fields: tuple[FormElement, ...] = (
        {
            "type": "textarea",
            "id": "description",
            "attributes": {"label": "Description", "description": "What do you need, and by when?"},
            "validations": {"required": True},
        },
    )

    @field_validator("fields")
    @classmethod
    def _form_elements(cls, fields: tuple[FormElement, ...]) -> tuple[FormElement, ...]:
        """GitHub's issue-form elements, each with a label (markdown aside) and an id of its
        own; `priority` and the Priority heading belong to the dropdown sla-bot adds."""
        ids: set[str] = set()
        for i, element in enumerate(fields):
            kind, attributes = element.get("type"), element.get("attributes") or {}
            where = f"fields[{i}]"
            if kind not in _ELEMENTS:
                raise ValueError(f"{where}: type {kind!r} is not one of {', '.join(_ELEMENTS)}")
            label = attributes.get("label") if isinstance(attributes, dict) else None
            if kind != "markdown" and not label:
                raise ValueError(f"{where}: a {kind} element needs attributes.label (its heading)")
            if str(label).strip().casefold() == "priority" or element.get("id") == "priority":
                raise ValueError(f"{where}: 'priority' is the dropdown sla-bot adds to every form")
            if element.get("id") in ids:
                raise ValueError(f"{where}: id {element['id']!r} is used twice")
            ids.add(element.get("id") or f"#{i}")
        return fields

    def __hash__(self) -> int:
        return hash((self.label, self.name))


def default_types() -> dict[RequestType, TypeSpec]:
    return {RequestType(key): TypeSpec.model_validate(spec) for key, spec in _builtin().items()}


def builtin_fields(kind: str) -> tuple[FormElement, ...] | None:
    """The built-in form fields of a built-in type, None for a type of the team's own."""
    found = _builtin().get(kind)
    return None if found is None else tuple(found["fields"])


@functools.cache
def _builtin() -> dict[str, Any]:
    """The built-in types' data, shipped beside this module (read once)."""
    text = (resources.files(__package__) / "builtin_types.yml").read_text(encoding="utf-8")
    # libyaml's loader where PyYAML has it: a tenth of the pure-Python one's time at every start.
    data: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


def one_of(keys: Iterable[object]) -> str:
    """`'a', 'b' or 'c'`: the keys a value may take."""
    names = [repr(str(key)) for key in keys]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def vocabulary_problems(policy: Policy) -> list[tuple[Loc, str]]:
    """Rules and names that do not fit the policy's own priorities and types."""
    return _rule_problems(policy) + _name_clashes(policy)


def _rule_problems(self: Policy) -> list[tuple[Loc, str]]:
    """Rules naming a type the policy lacks, and a rule on the least urgent priority (a
    request that does not meet it would have no priority to fall back to)."""
    found: list[tuple[Loc, str]] = []
    keys = list(self.priorities)
    for key, spec in self.priorities.items():
        if spec.requires is None:
            continue
        loc: Loc = ("priorities", str(key), "requires")
        if key == keys[-1]:
            found.append((loc, "the least urgent priority cannot have a rule"))
        for i, kind in enumerate(spec.requires.type):
            if kind not in self.types:
                message = f"unknown request type {str(kind)!r}: expected {one_of(self.types)}"
                found.append(((*loc, "type", i), message))
    return found


def _name_clashes(self: Policy) -> list[tuple[Loc, str]]:
    """Two priorities (or types) people would read alike: a form's answer or a report
    row could not tell them apart."""
    found: list[tuple[Loc, str]] = []
    for section, names in (
        ("priorities", {key: self.name_of(key) for key in self.priorities}),
        ("types", {key: self.type_name(key) for key in self.types}),
    ):
        seen: dict[str, str] = {}
        for key, name in names.items():
            first = seen.setdefault(name.casefold(), str(key))
            if first != key:
                message = f"name {name!r} is already used by {section}.{first}"
                found.append(((section, str(key), "name"), message))
    return found


def located(lines: dict[Loc, int], loc: Loc, message: str) -> PolicyProblem:
    """A problem the file does not spell out where it is (a built-in rule naming a type the
    file's `types:` dropped) is reported at the `types:` section, which caused it."""
    line = line_of(lines, loc)
    if line is None and loc[0] == "priorities" and ("types",) in lines:
        return PolicyProblem(lines[("types",)], "types", f"{dotted(loc)}: {message}")
    return PolicyProblem(line, dotted(loc), message)


def settle(merged: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Defaults that follow the team's vocabulary: without `default_priority` the least
    urgent priority, without `default_type` the last type listed (when the base's is gone);
    and `production_down_scope`, the older spelling, sets the rules' field and answers."""
    priorities, types = merged.get("priorities"), merged.get("types")
    for key, entries in (("default_priority", priorities), ("default_type", types)):
        if key not in given and isinstance(entries, dict) and entries:
            valid = [name for name in entries if KEY.fullmatch(name)]
            if merged.get(key) not in entries and valid:  # a bad key is reported once, itself
                merged[key] = valid[-1]
    for section, prefix in (("priorities", "priority"), ("types", "type")):
        entries = merged.get(section)
        for key, spec in entries.items() if isinstance(entries, dict) else ():
            if isinstance(spec, dict) and "label" not in spec:
                spec["label"] = f"{prefix}: {key}"
    scope = given.get("production_down_scope")
    if isinstance(scope, dict) and isinstance(priorities, dict):
        for spec in priorities.values():
            rule = spec.get("requires") if isinstance(spec, dict) else None
            if isinstance(rule, dict) and rule.get("end_users"):
                older = {"field": scope.get("field"), "end_users": scope.get("answers")}
                rule.update({name: value for name, value in older.items() if value})
    return merged
