"""Completion records: who has completed what, read from the gradebook and judged by the curriculum's rules.

This is the one read model behind every output (HR's list, the task force's report and dashboard, certificates,
the CLI's summary). It reads; it writes nothing.
"""

from __future__ import annotations

from course.completion import StaffCompletion, evaluate
from course.config import Course
from course.curriculum import Curriculum
from course.gradebook import load_staff, load_submissions


def completion_records(*, course: Course, curriculum: Curriculum) -> list[StaffCompletion]:
    """Every member of staff in the gradebook, with their module and track records for the published modules."""
    modules = curriculum.available(course.source_dir)
    return evaluate(
        curriculum=curriculum,
        staff=load_staff(course=course),
        submissions=load_submissions(course=course, assignments=[m.assignment for m in modules]),
        available=[m.id for m in modules],
    )
