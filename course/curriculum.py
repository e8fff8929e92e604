"""The curriculum: modules and tracks, read from curriculum.toml."""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from course.config import CourseError, settings_file

CURRICULUM_FILE = "curriculum.toml"  # in the course folder's settings/
GRADES = ("一般職", "係長職", "課長職以上")
# How a module's notebook states its length in cell 0: 「所要時間の目安 | 約30分」 or 「約40〜45分」.
STATED_MINUTES = re.compile(r"所要時間の目安\s*\|\s*約?\s*(\d+)(?:\s*[〜～~-]\s*(\d+))?\s*分")


@dataclass(frozen=True)
class Module:
    """One module = one nbgrader assignment."""

    id: str
    title: str
    pass_ratio: float
    tracks: tuple[str, ...]

    @property
    def assignment(self) -> str:
        """nbgrader's assignment name (and folder and notebook stem)."""
        return self.id.lower()

    def notebook(self, source_dir: Path) -> Path:
        return source_dir / self.assignment / f"{self.assignment}.ipynb"

    def is_available(self, source_dir: Path) -> bool:
        """True when the module's notebook exists; otherwise it is 準備中 (planned)."""
        return self.notebook(source_dir).is_file()

    def stated_minutes(self, source_dir: Path) -> int | None:
        """The minutes the notebook's first cell states (the upper bound of 約A〜B分), None if it states none."""
        try:
            cells = json.loads(self.notebook(source_dir).read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            return None
        source = cells[0]["source"] if cells else ""
        stated = STATED_MINUTES.search(source if isinstance(source, str) else "".join(source))
        return int(stated.group(2) or stated.group(1)) if stated else None


@dataclass(frozen=True)
class Step:
    """One stage of a track's path (the guideline's four steps for 推進員), reached when its modules are passed."""

    name: str
    modules: tuple[str, ...] = ()
    electives: bool = False  # True: reached with the track's min_electives electives


@dataclass(frozen=True)
class Track:
    """A course of study that ends in a completion record."""

    key: str
    name: str
    required: tuple[str, ...]
    electives: tuple[str, ...] = ()
    min_electives: int = 0
    grade: str | None = None  # the 職責区分 this track is for (基本方針①)
    promoter: bool = False  # the 業務デジタル化推進員 track (基本方針②)
    rule: str = "required_and_electives"  # a name in course.completion.TRACK_RULES
    steps: tuple[Step, ...] = ()
    carry_over: bool = True  # an earlier 年度's 修了 counts again this year (False: retaken every year)


@dataclass(frozen=True)
class Contacts:
    """Whom staff ask, as their screens say it ([course.contacts] of settings/curriculum.toml). Two questions, two
    answers: how to learn (the panel and 「はじめに」) and what is recorded (the records page)."""

    learning: str = "分からないときは、研修の担当者に相談してください。"
    records: str = "記録について分からないことは、研修の担当者にお問い合わせください。"


@dataclass(frozen=True)
class Curriculum:
    modules: dict[str, Module]
    tracks: dict[str, Track]
    title: str = "佐野市デジタル人材育成 e-ラーニング"
    contacts: Contacts = Contacts()

    def track_for_grade(self, grade: str) -> Track:
        return next(t for t in self.tracks.values() if t.grade == grade)

    def promoter_track(self) -> Track:
        return next(t for t in self.tracks.values() if t.promoter)

    def tracks_for(self, *, grade: str, promoter: bool) -> list[Track]:
        """The tracks a member of staff takes: their grade's, plus the promoter track for 推進員."""
        tracks = [self.track_for_grade(grade)]
        return [*tracks, self.promoter_track()] if promoter else tracks

    def track_key(self, text: str) -> str | None:
        """The track a sheet names by its name (一般職) or key (ippan), or None."""
        name = unicodedata.normalize("NFKC", text).strip()
        return name if name in self.tracks else next((t.key for t in self.tracks.values() if t.name == name), None)

    def module_id(self, text: str) -> str | None:
        """The module a sheet names (b05, Ｂ０５ → B05), or None."""
        module_id = unicodedata.normalize("NFKC", text).strip().upper()
        return module_id if module_id in self.modules else None

    def available(self, source_dir: Path) -> list[Module]:
        return [m for m in self.modules.values() if m.is_available(source_dir)]


def load_curriculum(path: Path | None = None) -> Curriculum:
    """Parse and check the curriculum file (default: settings/curriculum.toml of the course found from here); every
    inconsistency is reported at once."""
    path = path or settings_file(CURRICULUM_FILE)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    default_ratio = float(data.get("defaults", {}).get("pass_ratio", 0.6))
    raw_modules: dict[str, dict[str, object]] = data.get("modules", {})
    errors: list[str] = []
    tracks: dict[str, Track] = {}
    for key, raw in data.get("tracks", {}).items():
        track = Track(
            key=key,
            name=str(raw["name"]),
            required=tuple(raw.get("required", ())),
            electives=tuple(raw.get("electives", ())),
            min_electives=int(raw.get("min_electives", 0)),
            grade=raw.get("grade"),
            promoter=bool(raw.get("promoter", False)),
            rule=str(raw.get("rule", "required_and_electives")),
            carry_over=bool(raw.get("carry_over", True)),
            steps=tuple(
                Step(
                    name=str(step["name"]),
                    modules=tuple(step.get("modules", ())),
                    electives=bool(step.get("electives")),
                )
                for step in raw.get("steps", ())
            ),
        )
        for module_id in (*track.required, *track.electives, *(m for step in track.steps for m in step.modules)):
            if module_id not in raw_modules:
                errors.append(f"コース「{track.name}」に未定義のモジュール {module_id} があります。")
        if track.min_electives > len(track.electives):
            errors.append(f"コース「{track.name}」の選択必要数 {track.min_electives} が選択講座の数を超えています。")
        tracks[key] = track
    for grade in GRADES:
        if sum(t.grade == grade for t in tracks.values()) != 1:
            errors.append(f"職責区分「{grade}」のコースはちょうど1つ必要です。")
    if sum(t.promoter for t in tracks.values()) != 1:
        errors.append("推進員のコース (promoter = true) はちょうど1つ必要です。")

    modules: dict[str, Module] = {}
    for module_id, raw in raw_modules.items():
        ratio = float(raw.get("pass_ratio", default_ratio))  # type: ignore[arg-type]
        if not 0 < ratio <= 1:
            errors.append(f"モジュール {module_id} の合格基準 {ratio} は 0 より大きく 1 以下にしてください。")
        in_tracks = tuple(t.name for t in tracks.values() if module_id in (*t.required, *t.electives))
        modules[module_id] = Module(id=module_id, title=str(raw["title"]), pass_ratio=ratio, tracks=in_tracks)
    if errors:
        raise CourseError(f"{path}:\n" + "\n".join(f"- {e}" for e in errors))
    course = data.get("course", {})
    contacts = course.get("contacts", {})
    return Curriculum(
        modules=modules,
        tracks=tracks,
        title=str(course.get("title", Curriculum.title)),
        contacts=Contacts(
            learning=str(contacts.get("learning", Contacts.learning)),
            records=str(contacts.get("records", Contacts.records)),
        ),
    )
