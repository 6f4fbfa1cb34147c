"""The pure classifier: an issue form body in, request type and priority out."""

from app.sla.classifier.classify import (
    DISTINCTIVE_HEADINGS,
    PRIORITY_HEADING,
    Classification,
    DowngradeReason,
    Rung,
    Scope,
    TypeSource,
    Vocabulary,
    built_in,
    classify,
    parse_priority,
    recognise_form,
)
from app.sla.classifier.form import NO_RESPONSE, parse_form

__all__ = [
    "DISTINCTIVE_HEADINGS",
    "NO_RESPONSE",
    "PRIORITY_HEADING",
    "Classification",
    "DowngradeReason",
    "Rung",
    "Scope",
    "TypeSource",
    "Vocabulary",
    "built_in",
    "classify",
    "parse_form",
    "parse_priority",
    "recognise_form",
]
