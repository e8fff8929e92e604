"""One owner for every path and setting of the course.

nbgrader's own settings come from ``nbgrader_config.py`` at the course root, so the nbgrader CLI, the formgrader and
this package always agree. What a city changes (curriculum, 役職 table, grader limits) lives in TOML files in the
course folder's settings/, so a site that installed the package from wheels changes them without touching the
package.
A *runtime* folder can redirect all state (gradebook, exchange, submissions, exports) elsewhere; the demo and the
tests use that so they never touch the real gradebook. A runtime folder may also carry settings of its own in its
settings/ (the demo writes a year plan dated from the day it runs); they take the place of the course's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

CONFIG_FILE = "nbgrader_config.py"
SETTINGS_DIR = "settings"  # what a city changes (curriculum, roster mapping, grader limits), beside nbgrader_config.py
# nbgrader's own defaults for the folders nbgrader_config.py leaves unset (tests/test_config.py checks them against
# nbgrader's CourseDirectory). Kept here so that finding a folder does not import nbgrader, which takes a second.
NBGRADER_FOLDERS = {
    "source_directory": "source",
    "release_directory": "release",
    "submitted_directory": "submitted",
    "autograded_directory": "autograded",
    "feedback_directory": "feedback",
}
PACKAGE_DIR = Path(__file__).resolve().parent


class CourseError(Exception):
    """An error whose message is meant for the person at the keyboard (Japanese, says what to do next)."""


def find_root(start: Path | None = None) -> Path:
    """The course root: $COURSE_ROOT, else the nearest folder upwards holding nbgrader_config.py."""
    if env := os.environ.get("COURSE_ROOT"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    if (PACKAGE_DIR.parent / CONFIG_FILE).is_file():
        return PACKAGE_DIR.parent
    msg = f"{CONFIG_FILE} が見つかりません。コースのフォルダで実行するか、環境変数 COURSE_ROOT を設定してください。"
    raise CourseError(msg)


def read_toml(path: Path) -> dict[str, Any]:
    """A settings file's TOML; a mistake in how it is written is a CourseError naming the file and the place."""
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        msg = f"{path} を読めません（TOML の書き方の誤り: {error}）。"
        raise CourseError(msg) from None


def settings_file(name: str, root: Path | None = None) -> Path:
    """A settings file of the course in ``root`` (default: the course found from here), which must exist."""
    path = (root or find_root()) / SETTINGS_DIR / name
    if not path.is_file():
        msg = f"設定ファイル {path} が見つかりません。コースのフォルダの {SETTINGS_DIR}/ に置いてください。"
        raise CourseError(msg)
    return path


class Section(dict[str, Any]):
    """One class's settings in nbgrader_config.py (``c.CourseDirectory``): keys read and set as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class Settings(dict[str, Section]):
    """What nbgrader_config.py sets, class by class, as traitlets' ``Config`` holds it: ``c.CourseDirectory.root``.

    The commands only read a few plain values from the file (course id, folders, gradebook, exchange, timezone), and
    importing traitlets' config machinery costs more than a bare Python start; ``nbgrader_config()`` turns these
    settings into traitlets' ``Config`` when nbgrader itself is called.
    """

    def __getattr__(self, name: str) -> Section:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.setdefault(name, Section())


def read_settings(path: Path) -> Settings:
    """Run nbgrader_config.py as traitlets would (``c = get_config()``, ``__file__``) and keep what it sets. A file
    that needs more of traitlets (``load_subconfig``, ``c.X.y.append(...)``) is read by traitlets itself."""
    settings = Settings()
    namespace = {"get_config": lambda: settings, "__file__": str(path), "__name__": "nbgrader_config"}
    try:
        exec(compile(path.read_bytes(), str(path), "exec"), namespace)  # the course's own settings file
    except (NameError, AttributeError):
        from traitlets.config.loader import PyFileConfigLoader

        full = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
        settings = Settings({name: Section(values) for name, values in full.items() if isinstance(values, dict)})
    return settings


@dataclass(frozen=True)
class Course:
    """Paths and nbgrader configuration of one course checkout."""

    root: Path
    config: Settings
    runtime: Path | None = None

    @classmethod
    def load(cls, root: Path | None = None, *, runtime: Path | None = None) -> Course:
        """Read nbgrader_config.py; with ``runtime``, keep all mutable state inside that folder instead."""
        root = (root or find_root()).resolve()
        config = read_settings(root / CONFIG_FILE)
        if runtime is not None:
            runtime = runtime.resolve()
            config.CourseDirectory.update(
                db_url=f"sqlite:///{runtime / 'gradebook' / 'gradebook.db'}?timeout=60",
                submitted_directory=str(runtime / "submitted"),
                autograded_directory=str(runtime / "autograde"),
                feedback_directory=str(runtime / "feedback"),
            )
            config.Exchange.root = str(runtime / "exchange")
        return cls(root=root, config=config, runtime=runtime)

    def nbgrader_config(self, extra: Config | None = None) -> Config:
        """These settings as traitlets' ``Config`` for nbgrader's own classes, with ``extra`` layered on top."""
        from traitlets.config import Config

        config = Config(self.config)
        if extra is not None:
            config.merge(extra)
        return config

    def _dir(self, trait: str) -> Path:
        return self.root / str(self.config.CourseDirectory.get(trait, NBGRADER_FOLDERS[trait]))

    def settings_file(self, name: str) -> Path:
        """One of this course's settings files (settings/curriculum.toml, roster.toml, grader.toml, year_plan.csv);
        the runtime folder's own copy when it has one."""
        if self.runtime is not None and (own := self.runtime / SETTINGS_DIR / name).is_file():
            return own
        return settings_file(name, self.root)

    @property
    def course_id(self) -> str:
        return str(self.config.CourseDirectory.course_id)

    @property
    def timezone(self) -> ZoneInfo:
        """The course's timezone (nbgrader's Exchange.timezone): deadlines and completion dates use it."""
        return ZoneInfo(str(self.config.Exchange.get("timezone", "Asia/Tokyo")))

    @property
    def db_url(self) -> str:
        return str(self.config.CourseDirectory.db_url)

    @property
    def source_dir(self) -> Path:
        return self._dir("source_directory")

    @property
    def release_dir(self) -> Path:
        return self._dir("release_directory")

    @property
    def submitted_dir(self) -> Path:
        return self._dir("submitted_directory")

    @property
    def autograde_dir(self) -> Path:
        return self._dir("autograded_directory")

    @property
    def feedback_dir(self) -> Path:
        return self._dir("feedback_directory")

    @property
    def exchange_root(self) -> Path:
        return Path(str(self.config.Exchange.root))

    @property
    def export_dir(self) -> Path:
        return (self.runtime or self.root / "gradebook") / "exports"

    @property
    def gradebook_file(self) -> Path | None:
        """The SQLite file behind db_url, or None for a server database such as PostgreSQL."""
        prefix = "sqlite:///"
        if not self.db_url.startswith(prefix):
            return None
        return Path(self.db_url.removeprefix(prefix).split("?", 1)[0])

    def api(self, extra: Config | None = None) -> NbGraderAPI:
        """A fresh nbgrader API object bound to this course, with ``extra`` settings layered on top."""
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        self.exchange_root.mkdir(parents=True, exist_ok=True)
        if (file := self.gradebook_file) is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
        config = self.nbgrader_config(extra)
        return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
