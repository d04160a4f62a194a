#!/usr/bin/env python3
"""Validates FHIR resources read from stdin (a JSON array of resources, Bundles included)
against the R4B models of the PyPI package `fhir.resources` (an implementation independent
of ours), and prints the problems found as a JSON array of strings (empty when every resource
is valid). Each entry of a Bundle is validated as its own resource type as well.

Exit status 3 when `fhir.resources` is missing.
"""

import json
import sys

try:
    from fhir.resources.R4B import get_fhir_model_class
except ImportError:
    print("the Python package fhir.resources is missing: pip install fhir.resources",
          file=sys.stderr)
    sys.exit(3)


def check(resource, where, problems):
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if not kind:
        problems.append(f"{where}: no resourceType")
        return
    try:
        model = get_fhir_model_class(kind)
    except Exception as error:  # an unknown resource type
        problems.append(f"{where}: unknown resourceType {kind}: {error}")
        return
    try:
        model.model_validate(resource)
    except Exception as error:
        problems.append(f"{where} ({kind}/{resource.get('id', '')}): {error}")
    if kind == "Bundle":
        for index, entry in enumerate(resource.get("entry", [])):
            check(entry.get("resource"), f"{where}.entry[{index}]", problems)


def main():
    resources = json.load(sys.stdin)
    problems = []
    for index, resource in enumerate(resources):
        check(resource, f"[{index}]", problems)
    print(json.dumps(problems))


main()
