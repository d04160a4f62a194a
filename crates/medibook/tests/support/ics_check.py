#!/usr/bin/env python3
"""Parses an iCalendar file from stdin with the PyPI `icalendar` package (an implementation
independent of ours) and prints what the tests check, as JSON:

    {"name": ..., "method": ..., "events": [{"uid", "dtstart", "dtend", "sequence", "status",
     "summary", "location", "description", "url", "alarms": [trigger seconds]}], "errors": [...]}

Instants are UTC, ISO 8601 with a `Z`. Exit status 3 when `icalendar` is missing.
"""

import json
import sys
from datetime import datetime, timezone

try:
    import icalendar
except ImportError:
    print("the Python package icalendar is missing: pip install icalendar", file=sys.stderr)
    sys.exit(3)


def utc(value):
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise SystemExit(f"not an instant with a zone: {value!r}")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def text(component, name):
    value = component.get(name)
    return None if value is None else str(value)


def main():
    calendar = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
    errors = []
    events = []
    for component in calendar.walk():
        errors.extend(f"{component.name}: {e}" for e in getattr(component, "errors", []))
        if component.name != "VEVENT":
            continue
        alarms = []
        for alarm in component.walk("VALARM"):
            trigger = alarm.decoded("TRIGGER")
            alarms.append(int(trigger.total_seconds()))
        events.append(
            {
                "uid": text(component, "UID"),
                "dtstart": utc(component.decoded("DTSTART")),
                "dtend": utc(component.decoded("DTEND")),
                "sequence": int(component.get("SEQUENCE", 0)),
                "status": text(component, "STATUS"),
                "summary": text(component, "SUMMARY"),
                "location": text(component, "LOCATION"),
                "description": text(component, "DESCRIPTION"),
                "url": text(component, "URL"),
                "alarms": alarms,
            }
        )
    print(
        json.dumps(
            {
                "name": text(calendar, "X-WR-CALNAME"),
                "method": text(calendar, "METHOD"),
                "version": text(calendar, "VERSION"),
                "events": events,
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
