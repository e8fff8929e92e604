"""nbgrader settings for the course. Only what differs from nbgrader's defaults is set here."""

import os
from pathlib import Path

c = get_config()  # provided by traitlets when this file is loaded
HERE = Path(__file__).resolve().parent

# Course identity: URL-safe, since JupyterHub groups and exchange folders are named after it.
c.CourseDirectory.course_id = "sano_dx"
c.CourseDirectory.root = str(HERE)

# The design card names the folder "autograde", not nbgrader's "autograded".
c.CourseDirectory.autograded_directory = "autograde"

# The gradebook lives in gradebook/, as an absolute URL so that it never depends on the working directory.
# Parallel graders share it: SQLite waits up to 60 s for a lock instead of failing (PostgreSQL: any db_url works).
c.CourseDirectory.db_url = f"sqlite:///{HERE / 'gradebook' / 'gradebook.db'}?timeout=60"

# The exchange defaults to an ignored runtime folder of the repo; JupyterHub sets COURSE_EXCHANGE_ROOT.
c.Exchange.root = os.environ.get("COURSE_EXCHANGE_ROOT", str(HERE / "runtime" / "exchange"))

# Files a notebook writes while it runs (nbval runs the instructor version in place) are never released.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "output"]

# Deadlines and timestamps are in Japan time, not UTC.
c.Exchange.timezone = "Asia/Tokyo"
c.NbGraderAPI.timezone = "Asia/Tokyo"
# nbgrader's default timestamp ends in the zone's abbreviation ("JST"), which its own parser does not know: every
# submission time would be stored 9 hours late. A numeric offset cannot be used either: "+0900" puts a "+" into the
# exchange's folder names, which nbgrader splits on "+". The POSIX zone "JST-9" (UTC+9, Japan has no summer time)
# is read correctly. It must agree with Exchange.timezone above.
c.Exchange.timestamp_format = "%Y-%m-%d %H:%M:%S.%f JST-9"

# nbgrader's own list for the student version, with one substitution: a judgment item (an answer cell whose solution
# is only literal assignments, 回答 = "イ") gets blanks to fill in (回答 = "") instead of the code stub (course/blanks.py).
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "course.blanks.ClearSolutionsWithBlanks",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Staff see Japanese stubs in the student version.
c.ClearSolutions.code_stub = {"python": "# ここにコードを書いてください\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "ここに回答を書いてください。"
