"""E03 の教材用の道具：Excel ファイルのシートを、Excel の画面に似た「絵」にして表示します。

JupyterLab の中では Excel を開けないので、openpyxl でファイルを読み直し、matplotlib で描きます。
中身を読む必要はありません（この教材の練習では使いません）。

- 色（塗りつぶし）・太字・桁区切りなどの表示形式・列の幅・枠の固定（太線）を、だいたい Excel のとおりに描きます。
- 数式は、=SUM(…)・=AVERAGE(…)・=MAX(…)・=MIN(…)・=COUNT(…)、=IFERROR(…)、かけ算・割り算などの簡単なものだけ、ここで計算して表示します（セルの左上に小さな「fx」）。
- 条件付き書式（セルの値の条件）は、ここで条件を調べて色を付けます。
- プルダウン（入力規則のリスト）のあるセルには「▼」を付けます。
- グラフは描きません（グラフがあるときは、下に一言出します）。
"""

from __future__ import annotations

import operator
import re

import matplotlib.pyplot as plt
import matplotlib_fontja  # noqa: F401  グラフで日本語を表示するため
from matplotlib import patheffects
from matplotlib.patches import Rectangle
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries

_REF = re.compile(r"\$?([A-Z]{1,3})\$?(\d+)")
_OPS = {
    "greaterThan": operator.gt, "greaterThanOrEqual": operator.ge, "lessThan": operator.lt,
    "lessThanOrEqual": operator.le, "equal": operator.eq, "notEqual": operator.ne,
}


def _cells(rng: str):
    """'B2:D5' のような範囲（空白区切りで複数でもよい）の (行, 列) を順に返します。"""
    for part in str(rng).split():
        min_col, min_row, max_col, max_row = range_boundaries(part)
        for r in range(min_row, max_row + 1):
            for c in range(min_col, max_col + 1):
                yield r, c


def _value(ws, r, c, depth=0):
    """セルの値。簡単な数式はここで計算します（計算できないときは数式の文字のまま）。"""
    v = ws.cell(row=r, column=c).value
    if isinstance(v, str) and v.startswith("=") and depth < 5:
        return _evaluate(ws, v[1:], depth + 1)
    return v


def _number(ws, text, depth):
    """'C2/D2' のような式を計算します。セルの番地は値に置き換えます。"""
    def repl(m):
        col = m.group(1)
        v = _value(ws, int(m.group(2)), range_boundaries(f"{col}1")[0], depth)
        if not isinstance(v, (int, float)):
            raise ValueError(v)
        return repr(float(v))
    expr = _REF.sub(repl, text)
    if not re.fullmatch(r"[0-9eE.+\-*/() ]+", expr):
        raise ValueError(expr)
    return eval(expr, {"__builtins__": {}})  # 数字と + - * / ( ) だけの式


def _evaluate(ws, body, depth):
    m = re.fullmatch(r"(SUM|AVERAGE|MAX|MIN|COUNT)\((\$?[A-Z]+\$?\d+:\$?[A-Z]+\$?\d+)\)", body, flags=re.I)
    if m:
        numbers = [v for r, c in _cells(m.group(2).replace("$", ""))
                   for v in [_value(ws, r, c, depth)] if isinstance(v, (int, float)) and not isinstance(v, bool)]
        name = m.group(1).upper()
        if name == "SUM":
            return sum(numbers)
        if name == "COUNT":
            return len(numbers)
        if not numbers:
            return "#DIV/0!" if name == "AVERAGE" else 0
        return {"AVERAGE": sum(numbers) / len(numbers), "MAX": max(numbers), "MIN": min(numbers)}[name]
    m = re.fullmatch(r"IFERROR\((.+),\s*\"(.*)\"\)", body, flags=re.I)
    if m:
        try:
            return _number(ws, m.group(1), depth)
        except (ZeroDivisionError, ValueError):
            return m.group(2)
    try:
        return _number(ws, body, depth)
    except (ZeroDivisionError, ValueError):
        return "=" + body


def _text(v, number_format):
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if "%" in number_format:
        digits = len(number_format.split(".")[1].rstrip("%")) if "." in number_format else 0
        return f"{v * 100:.{digits}f}%"
    if "#,##0" in number_format:
        return f"{v:,.0f}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _color(color):
    rgb = getattr(color, "rgb", None)
    if isinstance(rgb, str) and len(rgb) >= 6 and rgb[-6:] != "000000":
        return "#" + rgb[-6:]
    return None


def _conditional_fills(ws):
    """条件付き書式（セルの値の条件）に合うセルの色を、{(行, 列): 色} で返します。"""
    fills = {}
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            if rule.type != "cellIs" or rule.dxf is None or rule.dxf.fill is None:
                continue
            color = _color(rule.dxf.fill.fgColor) or _color(rule.dxf.fill.bgColor)
            try:
                limits = [float(f) for f in rule.formula]
            except (TypeError, ValueError):
                continue
            for r, c in _cells(cf.sqref):
                v = _value(ws, r, c)
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    continue
                if rule.operator == "between":
                    ok = limits[0] <= v <= limits[1]
                elif rule.operator == "notBetween":
                    ok = not limits[0] <= v <= limits[1]
                else:
                    ok = _OPS[rule.operator](v, limits[0])
                if ok and color:
                    fills[(r, c)] = color
    return fills


def draw_sheet(path, sheet_name=None, rows=None, title=None):
    """Excel ファイル path のシートを、Excel の画面に似た絵にして表示します。

    sheet_name を省くと、1番目のシートを描きます。rows で描く行の数を決められます（省くと値のある行まで）。
    """
    wb = load_workbook(path)
    ws = wb[sheet_name] if sheet_name else wb.worksheets[0]
    n_rows = rows or max(ws.max_row, 3)
    n_cols = ws.max_column
    widths = []
    for c in range(1, n_cols + 1):
        letter = get_column_letter(c)
        dim = ws.column_dimensions[letter] if letter in ws.column_dimensions else None
        widths.append(max(dim.width, 4.0) if dim is not None and dim.customWidth else 8.43)   # 幅を決めていない列は 8.43
    lefts = [3.0]
    for w in widths:
        lefts.append(lefts[-1] + w)
    total_w = lefts[-1]
    fills = _conditional_fills(ws)
    dropdown = set()
    for dv in ws.data_validations.dataValidation:
        if dv.type == "list":
            dropdown |= {rc for rc in _cells(dv.sqref) if rc[0] <= n_rows}

    fig, ax = plt.subplots(figsize=(min(0.16 * total_w + 0.5, 15), 0.32 * (n_rows + 1) + 0.6))
    ax.set_xlim(0, total_w)
    ax.set_ylim(n_rows + 1, 0)
    ax.axis("off")
    grey = "#f0f0f0"
    # 列の記号（A, B, …）と行の番号
    ax.add_patch(Rectangle((0, 0), 3.0, 1, facecolor=grey, edgecolor="#bdbdbd", lw=0.6))
    for c in range(1, n_cols + 1):
        ax.add_patch(Rectangle((lefts[c - 1], 0), widths[c - 1], 1, facecolor=grey, edgecolor="#bdbdbd", lw=0.6))
        ax.text(lefts[c - 1] + widths[c - 1] / 2, 0.5, get_column_letter(c), ha="center", va="center", fontsize=8, color="#555")
    for r in range(1, n_rows + 1):
        ax.add_patch(Rectangle((0, r), 3.0, 1, facecolor=grey, edgecolor="#bdbdbd", lw=0.6))
        ax.text(1.5, r + 0.5, str(r), ha="center", va="center", fontsize=8, color="#555")
        for c in range(1, n_cols + 1):
            cell = ws.cell(row=r, column=c)
            face = fills.get((r, c)) or (_color(cell.fill.fgColor) if cell.fill.fill_type == "solid" else None) or "white"
            ax.add_patch(Rectangle((lefts[c - 1], r), widths[c - 1], 1, facecolor=face, edgecolor="#d0d0d0", lw=0.6))
            raw = cell.value
            v = _value(ws, r, c)
            text = _text(v, cell.number_format)
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            if cell.alignment is not None and cell.alignment.horizontal == "center":
                x, ha = lefts[c - 1] + widths[c - 1] / 2, "center"
            elif numeric or text.endswith("%"):
                x, ha = lefts[c] - 0.4, "right"
            else:
                x, ha = lefts[c - 1] + 0.4, "left"
            bold = cell.font is not None and cell.font.b
            ax.text(x, r + 0.55, text, ha=ha, va="center", fontsize=9, clip_on=True,   # 太字は、文字をふちどって太く見せる
                    path_effects=[patheffects.withStroke(linewidth=0.7, foreground="black")] if bold else None)
            if isinstance(raw, str) and raw.startswith("="):
                ax.text(lefts[c - 1] + 0.2, r + 0.18, "fx", fontsize=5, color="#1565c0", va="center")
            if (r, c) in dropdown:
                ax.text(lefts[c] - 0.3, r + 0.55, "▼", ha="right", va="center", fontsize=6, color="#616161")
    # 枠の固定（太線）
    if ws.freeze_panes:
        fc, fr = range_boundaries(ws.freeze_panes + ":" + ws.freeze_panes)[:2]
        if fr > 1:
            ax.plot([0, total_w], [fr, fr], color="#424242", lw=1.6)
        if fc > 1:
            ax.plot([lefts[fc - 1], lefts[fc - 1]], [0, n_rows + 1], color="#424242", lw=1.6)
    ax.set_title(title or f"{path} のシート「{ws.title}」（イメージ）", fontsize=10, loc="left")
    if ws._charts:
        ax.text(0, n_rows + 1.7, f"このシートにはグラフが {len(ws._charts)} つあります（Excel で開くと表示されます）。",
                fontsize=8, clip_on=False)
    wb.close()
    plt.show()
