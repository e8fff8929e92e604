"""`python -m course`: a thin command line. Each command parses its arguments, calls one core function and prints
the result in Japanese. No logic lives here.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from course.config import Course, CourseError

if TYPE_CHECKING:
    from course.curriculum import Module
    from course.years import FiscalYear

# Each command imports what it needs when it runs, so `--help` and the quick commands start in a fraction of a
# second: the grader, pandas, matplotlib and openpyxl are loaded only by the commands that use them.

_ARGPARSE_JA = {
    "usage: ": "使い方: ",
    "positional arguments": "引数",
    "options": "オプション",
    "show this help message and exit": "このヘルプを表示して終了します",
    "the following arguments are required: %s": "次の引数が必要です: %s",
    "unrecognized arguments: %s": "知らない引数です: %s",
    "invalid choice: %(value)r (choose from %(choices)s)": "選べない値です: %(value)r（選べるのは %(choices)s）",
    "expected one argument": "値が1つ必要です",
    "argument %(argument_name)s: %(message)s": "引数 %(argument_name)s: %(message)s",
    "%(prog)s: error: %(message)s\n": "%(prog)s: エラー: %(message)s\n",
}
argparse._ = lambda text: _ARGPARSE_JA.get(text, text)  # type: ignore[attr-defined]  # Japanese argparse chrome


def _modules(args: argparse.Namespace, course: Course) -> list[Module]:
    from course import curriculum, lifecycle

    return lifecycle.select_modules(curriculum.load_curriculum(), course, args.modules)


def cmd_curriculum(args: argparse.Namespace, course: Course) -> int:
    from course import curriculum

    cur = curriculum.load_curriculum()
    print("モジュール一覧（準備中 = ノートブック未作成）")
    for module in cur.modules.values():
        state = "公開可" if module.is_available(course.source_dir) else "準備中"
        tracks = "・".join(module.tracks)
        print(f"  {module.id} [{state}] {module.title}（合格基準 {module.pass_ratio:.0%}、対象: {tracks}）")
    print("研修区分")
    for track in cur.tracks.values():
        extra = f" ＋ 選択 {'・'.join(track.electives)} から {track.min_electives} 以上" if track.min_electives else ""
        print(f"  {track.name}: 必須 {'・'.join(track.required)}{extra}")
    return 0


def cmd_roster_import(args: argparse.Namespace, course: Course) -> int:
    from course import roster

    report = roster.import_roster(course=course, path=Path(args.file), year=args.year, dry_run=args.dry_run)
    head = "（試行のみ・書き込みなし）" if args.dry_run else ""
    print(f"名簿を取り込みました{head}: 追加 {len(report.added)} 人、更新 {len(report.updated)} 人、"
          f"変更なし {len(report.unchanged)} 人、名簿外に変更 {len(report.retired)} 人")  # fmt: skip
    if report.retired:
        print(f"  名簿外になった職員（成績は残しています）: {', '.join(report.retired)}")
    for note in report.notes:
        print(f"  注意: {note}")
    return 0


def cmd_extensions_import(args: argparse.Namespace, course: Course) -> int:
    from course import curriculum, extensions

    result = extensions.import_extensions(
        course=course, curriculum=curriculum.load_curriculum(), path=Path(args.file), by=args.by, dry_run=args.dry_run
    )
    head = "（試行のみ・書き込みなし）" if args.dry_run else ""
    years = "・".join(y.label for y in result.years) or "なし"
    print(f"猶予・免除を取り込みました{head}（{years}）: 追加 {len(result.added)} 件、変更 {len(result.changed)} 件、"
          f"削除 {len(result.removed)} 件")  # fmt: skip
    for what, items in (("追加", result.added), ("変更", result.changed), ("削除", result.removed)):
        for item in items:
            print(f"  {what} {item.staff_id} {item.target or 'すべて'}: {item.describe()}")
    return 0


def cmd_build(args: argparse.Namespace, course: Course) -> int:
    from course import lifecycle

    result = lifecycle.build(course=course, modules=_modules(args, course))
    print(f"受講者用ノートブックを作成しました: {', '.join(result.assignments)} → {course.release_dir}")
    return 0


def cmd_release(args: argparse.Namespace, course: Course) -> int:
    from course import lifecycle

    result = lifecycle.release(course=course, modules=_modules(args, course))
    print(f"公開しました: {', '.join(result.assignments)}（職員は「研修」の一覧の「受け取る」で受け取れます）")
    for note in result.notes:
        print(f"  {note}")
    return 0


def cmd_collect(args: argparse.Namespace, course: Course) -> int:
    from course import lifecycle

    result = lifecycle.collect(course=course, modules=_modules(args, course))
    print(f"提出物を回収しました: {', '.join(result.assignments)} → {course.submitted_dir}")
    for staff_id, assignment, what in result.people:
        print(f"  {staff_id} {assignment}: {what}")
    if not result.people:
        print("  まだ提出はありません。")
    return 0


def cmd_autograde(args: argparse.Namespace, course: Course) -> int:
    from course.autograde import grader

    if args.unsafe_no_sandbox:
        print("警告: サンドボックスなしで採点します。職員のコードが講師の権限で動きます。", file=sys.stderr)
    report = grader.autograde(
        course=course,
        modules=_modules(args, course),
        force=args.force,
        allow_unsandboxed=args.unsafe_no_sandbox,
        workers=args.workers,
    )
    print(
        f"自動採点: 採点 {len(report.done)} 件、変更なしのため省略 {len(report.skipped)} 件、失敗 {len(report.failures)} 件"
    )
    for staff_id, assignment in report.done:
        print(f"  採点しました {staff_id} {assignment}")
    for staff_id, assignment in report.skipped:
        print(f"  変更なし（採点済み） {staff_id} {assignment}")
    for staff_id, assignment, note in report.notes:
        print(f"  補正 {staff_id} {assignment}: {note}")
    if report.backup:
        print(f"  採点前の成績簿のバックアップ: {report.backup}")
    for failure in report.failures:
        print(f"  失敗 {failure.staff_id} {failure.assignment}: {failure.reason}")
    return 1 if report.failures else 0


def cmd_feedback(args: argparse.Namespace, course: Course) -> int:
    from course import lifecycle

    result = lifecycle.feedback(course=course, modules=_modules(args, course))
    print(f"フィードバックを返却しました: {', '.join(result.assignments) or 'なし（採点済みの提出がありません）'}")
    for note in result.notes:
        print(f"  注意: {note}")
    return 0


def cmd_completion(args: argparse.Namespace, course: Course) -> int:
    from course import completion, curriculum, records

    cur = curriculum.load_curriculum()
    people = records.completion_records(course=course, curriculum=cur, year=args.year)
    print(f"職員 {len(people)} 人（うち名簿外 {sum(not r.staff.current for r in people)} 人）")
    for name, counts in completion.track_counts(people, cur).items():
        print(f"  {name}（{counts.total()} 人）: {completion.describe_counts(counts)}")
    return 0


def cmd_export(args: argparse.Namespace, course: Course) -> int:
    from course import curriculum, export

    result = export.export(
        course=course,
        curriculum=curriculum.load_curriculum(),
        out_dir=Path(args.out) if args.out else None,
        encoding=args.encoding,
        year=args.year,
    )
    print(f"{result.year.label}の修了状況一覧を出力しました（{result.staff_count} 人）:")
    print(f"  {result.workbook}")
    for path in result.csv_files:
        print(f"  {path}")
    print(f"  課別の未修了者一覧 {len(result.section_files)} 件: {result.section_dir}")
    return 0


def cmd_report(args: argparse.Namespace, course: Course) -> int:
    from course import curriculum
    from course.taskforce import report

    result = report.write_report(
        course=course, curriculum=curriculum.load_curriculum(), out_dir=Path(args.out) if args.out else None
    )
    print(f"進捗報告書を出力しました（対象職員 {result.staff_count} 人、在籍者のみ）:")
    print(f"  {result.html}")
    print(f"  {result.workbook}（集計表）")
    return 0


def cmd_reports_receive(args: argparse.Namespace, course: Course) -> int:
    from datetime import datetime

    from course import reports

    receipt = reports.receive_report(
        course=course, staff_id=args.staff, path=Path(args.file), at=datetime.now(course.timezone)
    )
    print(receipt.message)
    return 0


def cmd_cases(args: argparse.Namespace, course: Course) -> int:
    from course import cases

    result = cases.write_cases(course=course, out_dir=Path(args.out) if args.out else None)
    print(f"横展開事例集を出力しました（{result.count} 件）:")
    print(f"  {result.html}")
    print(f"  {result.workbook}")
    return 0


def cmd_cases_adopt(args: argparse.Namespace, course: Course) -> int:
    import getpass
    from datetime import datetime

    from course import cases

    adoption = cases.adopt_case(
        course=course, case_id=args.case, section=args.section, by=args.by or getpass.getuser(),
        at=datetime.now(course.timezone), undo=args.undo,
    )  # fmt: skip
    what = (
        f"{adoption.section}による {adoption.case_id} の採用を取り消しました"
        if args.undo
        else f"{adoption.section}が {adoption.case_id} を採用したことを記録しました"
    )
    print(f"{what}（{adoption.by}、{adoption.at:%Y/%m/%d %H:%M}）。")
    return 0


def cmd_certificate(args: argparse.Namespace, course: Course) -> int:
    from course import certificate, curriculum

    cur = curriculum.load_curriculum()
    if not args.action:
        paths = certificate.write_certificates(course=course, curriculum=cur)
        print(f"修了証を {len(paths)} 件出力しました: {certificate.certificate_dir(course)}")
        print(f"  鍵ファイル: {certificate.key_file(course)}（git に入れず、安全な場所に保管してください）")
        return 0
    if args.action[0] != "verify" or len(args.action) != 2:
        print("使い方: python -m course certificate [verify 検証コード]", file=sys.stderr)
        return 2
    result = certificate.verify(course=course, curriculum=cur, code=args.action[1])
    print(result.message)
    return 0 if result.valid else 1


ITEMS_USAGE = (
    "使い方: python -m course items [モジュール…] [--year 年度]\n"
    "        python -m course items neutralise モジュール 設問ID --reason 理由\n"
    "        python -m course items restore モジュール 設問ID [--reason 理由]"
)


def cmd_items(args: argparse.Namespace, course: Course) -> int:
    from course import curriculum, items
    from course.lifecycle import select_modules
    from course.models import NEUTRALISE, RESTORE

    cur = curriculum.load_curriculum()
    words = list(args.words)
    actions = {"neutralise": NEUTRALISE, "restore": RESTORE}
    if words and words[0] in actions:
        if len(words) != 3:
            print(ITEMS_USAGE, file=sys.stderr)
            return 2
        result = items.change_item(
            course=course, curriculum=cur, action=actions[words[0]], module_id=words[1], grade_id=words[2],
            reason=args.reason or "", by=args.by,
        )  # fmt: skip
        done = "全員正解扱いにしました" if result.action.action == NEUTRALISE else "採点どおりの点に戻しました"
        why = f"理由: {result.action.reason}、" if result.action.reason else ""
        print(f"{result.module.id} の設問 {result.action.grade_id} を{done}（{why}実施: {result.action.by}）。")
        if not result.changes:
            print("  修了状況が変わった職員はいません。")
        for (what, before, after), count in result.summary().items():
            print(f"  {what}: {before} → {after} {count} 人")
        print("  人事課向けの一覧（export）と修了証（certificate）は、次に出力したときに反映されます。"
              "発行済みの修了証はそのまま残ります。")  # fmt: skip
        return 0
    modules = select_modules(cur, course, words)
    analysis = items.write_item_analysis(
        course=course, curriculum=cur, modules=modules, out_dir=Path(args.out) if args.out else None, year=args.year
    )
    print(f"項目分析（{analysis.scope}）:")
    least = analysis.thresholds.min_attempts
    for module in modules:
        stats = [s for s in analysis.stats if s.module_id == module.id]
        attempts = max((s.attempts for s in stats), default=0)
        flagged = sum(bool(s.flags) for s in stats)
        print(f"  {module.id} {module.title}: 受験者 {attempts} 人、設問 {len(stats)}、注意 {flagged} 件")
        unjudged = sum(not s.judged for s in stats)
        if unjudged:
            print(f"    {module.id}: 受験者が少なく {unjudged} 設問は判定していません（{least} 人以上で判定します）。")
        for s in stats:
            if not s.flags and s.neutralised is None:
                continue
            rate = "－" if s.pass_rate is None else f"{s.pass_rate:.0%}"
            index = "－" if s.discrimination is None else f"{s.discrimination:+.2f}"
            notes = [s.remark] if s.remark else []
            if s.neutralised is not None:
                notes.append(f"全員正解扱い（{items.describe(s.neutralised)}）")
            name = "／".join(n for n in (s.exercise, s.check) if n)
            print(
                f"    {s.grade_id}{f'（{name}）' if name else ''}: 配点 {s.max_score:g}、正答率 {rate}、識別力 {index}"
            )
            print(f"      ← {'／'.join(notes)}")
            if s.advice:
                print(f"        {s.advice}")
    print(f"注意が必要な設問: {len(analysis.flagged)} 件（すべての設問の数字は次のファイルにあります）")
    print(f"  {analysis.workbook}")
    return 0


def cmd_demo(args: argparse.Namespace, course: Course) -> int:
    from course import demo  # imported here: only the demo needs the simulated answers

    return demo.main(course_root=course.root, runtime=Path(args.runtime) if args.runtime else None)


def _year(text: str) -> FiscalYear:
    from course.years import FiscalYear

    year = FiscalYear.parse(text)
    if year is None:
        raise argparse.ArgumentTypeError(f"年度は「令和8年度」か「2026」のように指定してください: {text}")
    return year


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course",
        description="佐野市デジタル人材育成 e-ラーニングの運用コマンドです（名簿・公開・回収・採点・修了状況の出力）。",
    )
    parser.add_argument("--runtime", metavar="フォルダ", help="成績簿・提出物・出力をこのフォルダに置きます（試行用）")
    commands = parser.add_subparsers(title="コマンド", metavar="コマンド", required=True)

    def add(
        name: str, handler: Callable[..., int], help_text: str, *, modules: bool = False
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if modules:
            sub.add_argument(
                "modules", nargs="*", metavar="モジュール", help="対象のモジュール（例: B03）。省略時は公開可能なすべて"
            )
        sub.set_defaults(handler=handler)
        return sub

    add("curriculum", cmd_curriculum, "モジュールと研修区分の一覧を表示します")
    roster_parser = commands.add_parser("roster", help="職員名簿を扱います", description="職員名簿を扱います")
    roster_commands = roster_parser.add_subparsers(title="コマンド", metavar="コマンド", required=True)
    importer = roster_commands.add_parser(
        "import",
        help="職員名簿（.xlsx / CSV）を取り込みます",
        description="職員名簿を取り込みます。列: 職員番号, 氏名, ふりがな（任意）, 部, 課, 役職, 推進員。"
        "誤りが1つでもあれば、すべての誤りを表示して何も書き込みません。",
    )
    importer.add_argument("file", metavar="ファイル", help="名簿ファイル（.xlsx、または UTF-8 / Shift_JIS の CSV）")
    importer.add_argument("--dry-run", action="store_true", help="確認だけ行い、成績簿には書き込みません")
    importer.add_argument(
        "--year", type=_year, metavar="年度", help="どの年度の名簿か（例: 令和9年度。既定: 今日の年度）"
    )
    importer.set_defaults(handler=cmd_roster_import)
    ext_parser = commands.add_parser(
        "extensions", help="猶予・免除（育児休業など）の一覧を扱います", description="猶予・免除の一覧を扱います"
    )
    ext_commands = ext_parser.add_subparsers(title="コマンド", metavar="コマンド", required=True)
    ext_import = ext_commands.add_parser(
        "import",
        help="猶予・免除の一覧（.xlsx / CSV）を取り込みます",
        description="猶予・免除の一覧を取り込みます。列: 職員番号, 氏名（任意）, 年度, 対象, 措置, 期限, 理由, 備考（任意）。"
        "一覧に出てくる年度の猶予・免除を一覧どおりにし、変更はすべて記録します。"
        "誤りが1つでもあれば、すべての誤りを表示して何も書き込みません。",
    )
    ext_import.add_argument("file", metavar="ファイル", help="一覧ファイル（.xlsx、または UTF-8 / Shift_JIS の CSV）")
    ext_import.add_argument("--dry-run", action="store_true", help="確認だけ行い、成績簿には書き込みません")
    ext_import.add_argument("--by", metavar="氏名", help="記録に残す取り込んだ人（既定: ログイン中のユーザー名）")
    ext_import.set_defaults(handler=cmd_extensions_import)
    add("build", cmd_build, "source/ から受講者用ノートブック（release/）を作成します", modules=True)
    add("release", cmd_release, "モジュールを職員に公開します", modules=True)
    add("collect", cmd_collect, "職員の提出物を回収します", modules=True)
    grade = add(
        "autograde", cmd_autograde, "回収した提出物を自動採点します（新しい提出・変更された提出のみ）", modules=True
    )
    grade.add_argument("--force", action="store_true", help="採点済みの提出もすべて採点し直します")
    grade.add_argument("--workers", type=int, metavar="数", help="並列に採点する数（既定: CPU のコア数）")
    grade.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="サンドボックス（bubblewrap）なしで採点します。職員のコードが講師の権限で動くため、試行環境以外では使わないでください",
    )
    add("feedback", cmd_feedback, "採点結果のフィードバックを作成し、職員に返却します", modules=True)
    summary = add("completion", cmd_completion, "修了状況の集計を表示します")
    summary.add_argument("--year", type=_year, metavar="年度", help="集計する年度（例: 令和8年度。既定: 今日の年度）")
    out = add("export", cmd_export, "人事課向けの修了状況一覧（Excel と CSV）と課別の未修了者一覧を出力します")
    out.add_argument("--year", type=_year, metavar="年度", help="出力する年度（例: 令和8年度。既定: 今日の年度）")
    out.add_argument("--out", metavar="フォルダ", help="出力先（既定: gradebook/exports）")
    out.add_argument("--encoding", choices=["utf-8-sig", "cp932"], default="utf-8-sig",
                     help="CSV の文字コード（既定: BOM付き UTF-8。古い Excel 向けには cp932）")  # fmt: skip
    rep = add(
        "report",
        cmd_report,
        "タスクフォース向けの進捗報告書（HTML）と、その集計表（Excel）を出力します",
    )
    rep.add_argument("--out", metavar="フォルダ", help="出力先（既定: gradebook/exports）")
    reports_parser = commands.add_parser(
        "reports", help="推進員の進捗報告を扱います", description="推進員の進捗報告を扱います"
    )
    reports_commands = reports_parser.add_subparsers(title="コマンド", metavar="コマンド", required=True)
    receive = reports_commands.add_parser(
        "receive",
        help="推進員の進捗報告（.xlsx / CSV）を受け付けます",
        description="推進員の進捗報告を受け付けます。テンプレート・名簿（今年度の推進員か、部が合っているか）・"
        "事例番号を確かめ、誤りが1つでもあれば、すべての誤りを表示して何も記録しません。",
    )
    receive.add_argument("file", metavar="ファイル", help="進捗報告のファイル（department_report.save で保存したもの）")
    receive.add_argument("--staff", required=True, metavar="職員番号", help="報告する推進員の職員番号")
    receive.set_defaults(handler=cmd_reports_receive)
    cases_parser = commands.add_parser(
        "cases",
        help="横展開事例集（HTML と Excel）を出力します。adopt で採用を記録します",
        description="横展開事例集（HTML と Excel）を出力します。",
    )
    cases_parser.add_argument("--out", metavar="フォルダ", help="出力先（既定: gradebook/exports）")
    cases_parser.set_defaults(handler=cmd_cases)
    cases_commands = cases_parser.add_subparsers(title="コマンド", metavar="コマンド")
    adopt = cases_commands.add_parser(
        "adopt",
        help="ほかの課が事例を採用したことを記録します（--undo で取り消し）",
        description="ほかの課が事例を採用したことを記録します（--undo で取り消し）",
    )
    adopt.add_argument("case", metavar="事例番号", help="採用された事例の番号（例: C001）")
    adopt.add_argument("--section", required=True, metavar="課", help="採用した課（名簿の課の名前）")
    adopt.add_argument("--by", metavar="氏名", help="記録に残す記録した人（既定: ログイン中のユーザー名）")
    adopt.add_argument("--undo", action="store_true", help="記録した採用を取り消します（取り消しも記録に残ります）")
    adopt.set_defaults(handler=cmd_cases_adopt)
    cert = add(
        "certificate", cmd_certificate, "修了者の修了証（PDF）を発行します。verify 検証コード で真偽を確かめます"
    )
    cert.add_argument("action", nargs="*", metavar="verify 検証コード", help="省略時は発行。verify とコードで検証")
    item = add(
        "items",
        cmd_items,
        "設問（自動採点のテスト）ごとの正答率・識別力と注意を表示し、項目分析（Excel）を出力します。"
        "neutralise で誤りのある設問を全員正解扱いにし、restore で元に戻します",
    )
    item.add_argument(
        "words", nargs="*", metavar="モジュール…｜neutralise モジュール 設問ID｜restore モジュール 設問ID",
        help="省略時は公開可能なすべてのモジュールを分析します",
    )  # fmt: skip
    item.add_argument("--reason", metavar="理由", help="全員正解扱いにする（または元に戻す）理由。記録に残ります")
    item.add_argument("--by", metavar="氏名", help="記録に残す実施者（既定: ログイン中のユーザー名）")
    item.add_argument("--out", metavar="フォルダ", help="項目分析の出力先（既定: gradebook/exports）")
    item.add_argument(
        "--year",
        type=_year,
        metavar="年度",
        help="その年度に提出されたものだけを分析します（例: 令和8年度。既定: すべての年度）",
    )
    add("demo", cmd_demo, "架空の職員40人で、名簿取り込みから修了状況一覧の出力までを通して実行します")
    return parser


# Commands that read the whole gradebook, build some 100,000 small records, print or write them and exit. Python's
# cyclic garbage collector would pass over those records again and again (a tenth of `export`'s time) and find nothing
# to free: these commands run without it.
_SHORT_READERS = (cmd_completion, cmd_export)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    collecting = gc.isenabled()
    if args.handler in _SHORT_READERS:
        gc.disable()
    try:
        if args.handler is cmd_demo:
            return cmd_demo(args, Course.load())
        course = Course.load(runtime=Path(args.runtime) if args.runtime else None)
        return int(args.handler(args, course))
    except CourseError as error:
        print(f"エラー: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("中断しました。成績簿は中断前の状態のままです。もう一度実行すれば続きから処理します。", file=sys.stderr)
        return 130
    finally:
        if collecting:
            gc.enable()  # as it was: main() also runs inside other programs (the tests, a kernel)
