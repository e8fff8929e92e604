"""One member of staff's own record, as the 研修 panel (JSON) and the records page (HTML) show it. Pure: no I/O.

The shape is the contract between the course's hub service (course/staff_portal.py) and the JupyterLab 研修 panel:
English keys, Japanese values, times in ISO 8601 with the course's offset (+09:00). A track's modules come in the
curriculum's order, required first, then electives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from course.completion import ModuleRecord, StaffCompletion, TrackRecord, TrackStatus
from course.curriculum import Curriculum, Module


def iso(moment: datetime | None) -> str | None:
    """2026-12-07T20:15:00+09:00 (seconds; a naive time is refused rather than guessed)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        msg = f"時刻にタイムゾーンがありません: {moment}"
        raise ValueError(msg)
    return moment.isoformat(timespec="seconds")


def personal_record(
    *,
    completion: StaffCompletion,
    curriculum: Curriculum,
    as_of: datetime,
    certificate_url: Callable[[str], str],
    minutes: Mapping[str, int | None],
) -> dict[str, Any]:
    """The person's staff details and each of their tracks with its modules.

    ``certificate_url`` gives the download address of a track's 修了証 (by track key); it is offered only for a
    completed track. ``minutes`` are the module's stated minutes by module id (None or missing: not stated).
    """
    staff = completion.staff
    return {
        "as_of": iso(as_of),
        "staff": {
            "staff_id": staff.staff_id,
            "name": staff.name,
            "department": staff.department,
            "section": staff.section,
            "position": staff.position,
            "grade": staff.grade,
            "promoter": staff.promoter,
        },
        "tracks": [
            _track(record, completion.modules, curriculum, certificate_url, minutes) for record in completion.tracks
        ],
    }


def _track(
    record: TrackRecord,
    records: Mapping[str, ModuleRecord],
    curriculum: Curriculum,
    certificate_url: Callable[[str], str],
    minutes: Mapping[str, int | None],
) -> dict[str, Any]:
    track = curriculum.tracks[record.track_key]
    complete = record.status is TrackStatus.COMPLETE
    modules = [(module_id, True) for module_id in track.required] + [(m, False) for m in track.electives]
    due = dict(record.pending)  # the year's deadline of each required module still to do (an extension moves it)
    return {
        "key": track.key,
        "name": track.name,
        "status": record.status.value,
        "required_passed": record.required_passed,
        "required_total": record.required_total,
        "electives_passed": record.electives_passed,
        "electives_needed": record.electives_needed,
        "completed_at": iso(record.completed_at),
        "overdue": record.overdue,
        "extension": record.extension.describe() if record.extension else None,
        "certificate_url": certificate_url(track.key) if complete else None,
        "modules": [
            _module(
                curriculum.modules[module_id], records[module_id], required, minutes.get(module_id), due.get(module_id)
            )
            for module_id, required in modules
        ],
    }


def _module(
    module: Module, record: ModuleRecord, required: bool, minutes: int | None, deadline: date | None
) -> dict[str, Any]:
    return {
        "id": module.id,
        "title": module.title,
        "assignment": module.assignment,
        "required": required,
        "status": record.status.value,
        "score_ratio": record.score_ratio,
        "pass_ratio": module.pass_ratio,
        "submitted_at": iso(record.submitted_at),
        "completed_at": iso(record.completed_at),
        "deadline": deadline.isoformat() if deadline else None,  # from the year's plan, for modules still to do
        "minutes": minutes,
    }
