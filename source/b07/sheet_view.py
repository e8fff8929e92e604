"""B07 の教材用の道具：Excel ファイルのシートを、Excel の画面に似た「絵」にして表示します。

JupyterLab の中では Excel を開けないので、openpyxl でファイルを読み、matplotlib で描きます。
中身を読む必要はありません（練習では使いません）。

- 結合したセルは、1つの枠に描きます。
- セルの中の改行は、そのまま2行に描きます。全角スペースも、そのまま空白として描きます。
- 塗りつぶしの色・太字・中央ぞろえ・列の幅・行の高さを、だいたい Excel のとおりに描きます。
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib_fontja  # noqa: F401  グラフで日本語を表示するため
from matplotlib import patheffects
from matplotlib.patches import Rectangle
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

_HEADER = "#f0f0f0"


def _fill(cell: object) -> str:
    fill = getattr(cell, "fill", None)
    rgb = getattr(getattr(fill, "fgColor", None), "rgb", None)
    if fill is not None and fill.fill_type == "solid" and isinstance(rgb, str) and rgb[-6:] != "000000":
        return "#" + rgb[-6:]
    return "white"


def draw_sheet(path: str, rows: int | None = None, title: str | None = None) -> None:
    """Excel ファイル path の1番目のシートを、Excel の画面に似た絵にして表示します。

    rows で、描く行の数を決められます（省くと、値のある最後の行まで描きます）。
    """
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    n_rows, n_cols = min(rows or ws.max_row, ws.max_row), ws.max_column
    widths = []
    for c in range(1, n_cols + 1):
        dim = ws.column_dimensions.get(get_column_letter(c))
        widths.append(dim.width if dim is not None and dim.width else 8.43)
    heights = []
    for r in range(1, n_rows + 1):
        dim = ws.row_dimensions.get(r)
        heights.append(1.8 if dim is not None and dim.height and dim.height > 20 else 1.0)
    lefts = [3.0]
    for w in widths:
        lefts.append(lefts[-1] + w)
    tops = [1.0]
    for h in heights:
        tops.append(tops[-1] + h)
    merged = {}
    hidden = set()
    for rng in ws.merged_cells.ranges:
        merged[(rng.min_row, rng.min_col)] = (rng.max_row, rng.max_col)
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                if (r, c) != (rng.min_row, rng.min_col):
                    hidden.add((r, c))

    _fig, ax = plt.subplots(figsize=(min(0.15 * lefts[-1] + 0.6, 15), 0.3 * tops[-1] + 0.6))
    ax.set_xlim(0, lefts[-1])
    ax.set_ylim(tops[-1], 0)
    ax.axis("off")
    # 列の記号（A, B, …）と行の番号
    ax.add_patch(Rectangle((0, 0), 3.0, 1, facecolor=_HEADER, edgecolor="#bdbdbd", lw=0.6))
    for c in range(1, n_cols + 1):
        ax.add_patch(Rectangle((lefts[c - 1], 0), widths[c - 1], 1, facecolor=_HEADER, edgecolor="#bdbdbd", lw=0.6))
        ax.text(
            lefts[c - 1] + widths[c - 1] / 2,
            0.5,
            get_column_letter(c),
            ha="center",
            va="center",
            fontsize=8,
            color="#555",
        )
    for r in range(1, n_rows + 1):
        ax.add_patch(Rectangle((0, tops[r - 1]), 3.0, heights[r - 1], facecolor=_HEADER, edgecolor="#bdbdbd", lw=0.6))
        ax.text(1.5, tops[r - 1] + heights[r - 1] / 2, str(r), ha="center", va="center", fontsize=8, color="#555")
    # セル（結合したセルは、左上のセルの位置に1つの枠で描く）
    for r in range(1, n_rows + 1):
        for c in range(1, n_cols + 1):
            if (r, c) in hidden:
                continue
            last_r, last_c = merged.get((r, c), (r, c))
            last_r = min(last_r, n_rows)
            x0, x1 = lefts[c - 1], lefts[last_c]
            y0, y1 = tops[r - 1], tops[last_r]
            cell = ws.cell(row=r, column=c)
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=_fill(cell), edgecolor="#c8c8c8", lw=0.6))
            v = cell.value
            if v is None:
                continue
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = f"{v:,}" if numeric else str(v)
            horizontal = cell.alignment.horizontal if cell.alignment is not None else None
            vertical = cell.alignment.vertical if cell.alignment is not None else None
            if horizontal == "center":
                x, ha = (x0 + x1) / 2, "center"
            elif horizontal == "right" or numeric:
                x, ha = x1 - 0.4, "right"
            else:
                x, ha = x0 + 0.4, "left"
            y, va = (y0 + 0.5 if vertical == "top" else (y0 + y1) / 2), "center"
            if vertical == "top" and "\n" in text:
                y, va = y0 + 0.15, "top"
            bold = cell.font is not None and cell.font.b  # 太字は、文字をふちどって太く見せる
            effects = [patheffects.withStroke(linewidth=0.7, foreground="black")] if bold else None
            ax.text(x, y, text, ha=ha, va=va, fontsize=9, linespacing=1.1, path_effects=effects)
    ax.set_title(title or f"{path}（Excel で開いたときのイメージ）", fontsize=10, loc="left")
    wb.close()
    plt.show()
