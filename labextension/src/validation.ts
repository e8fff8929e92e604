/**
 * nbgrader's validation result, told in plain Japanese.
 *
 * nbgrader's Validator runs the notebook from top to bottom and reports the check cells that failed (with the
 * traceback), check cells that were changed, or cells whose type was changed. A traceback is never shown: the
 * course's own check cells raise `AssertionError("<Japanese explanation>")`, which is shown as it is; any other
 * error, or an assertion without a Japanese message, is explained by its kind. Pure: the reply in, the words out.
 */

export interface Problem {
  where: string; // 練習1a
  what: string; // 回答1a がまだ空です。…
}

export interface ValidationReport {
  ok: boolean;
  headline: string;
  problems: Problem[];
  next: string;
}

interface FailedCell {
  source?: string;
  raw_error?: string;
}

const ANSI = /\u001b\[[0-9;]*m/g;
const HAS_JAPANESE = /[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]/;

/** Why an error happened, for error kinds a learner meets; the course's own check messages are used first. */
const ERROR_KINDS: Record<string, string> = {
  NameError:
    '答えの名前（回答1a など）が見つかりません。答えのセルの「回答…」の部分を消したり書きかえたりしていないか確かめてください。',
  SyntaxError:
    '答えのセルの書き方に誤りがあります。かっこ・引用符（" "）が対になっているか、全角の記号が混じっていないかを確かめてください。',
  IndentationError: '行の始めに余分な空白があります。答えの行の始めの空白を消してください。',
  NotImplementedError: 'まだ答えが書かれていません。',
  TypeError: '答えの形が違います（文字と数の取りちがえなど）。答えのセルの例と同じ形で書いてください。',
  ValueError: '答えの値が読み取れません。答えのセルの例と同じ形で書いてください。',
  FileNotFoundError: '使うファイルが見つかりません。ファイルを移動したり名前を変えたりしていないか確かめてください。',
  AssertionError: '答えがまだ確認の条件に合っていません。すぐ上の答えのセルを見直してください。'
};

/**
 * Which cell a problem is in, as the person sees it: a check cell by its first comment ("# 確認: 練習1a（答えの形を…）"
 * → "練習1a"), a written answer by the words it still shows (「ここに回答を書いてください。」と書かれた欄), else by its
 * position.
 */
export function checkName(source: string | undefined, position: number): string {
  const first = (source ?? '').split('\n')[0].trim();
  if (first.startsWith('#')) {
    const name = first
      .replace(/^#+\s*/, '')
      .replace(/^確認\s*[:：]\s*/, '')
      .split(/[（(]/)[0]
      .trim();
    if (name && HAS_JAPANESE.test(name)) {
      return name;
    }
  } else if (first && HAS_JAPANESE.test(first)) {
    return `「${first.length > 24 ? first.slice(0, 24) + '…' : first}」と書かれた欄`;
  }
  return `${position}番目の確認`;
}

/** The Japanese reason for one failed check, from nbgrader's raw error text. */
export function reason(rawError: string | undefined): string {
  const lines = (rawError ?? '').replace(ANSI, '').split('\n').map(l => l.trim()).filter(Boolean);
  if (lines.some(l => l.startsWith('You did not provide a response'))) {
    return 'まだ答えが書かれていません。';
  }
  if (lines.some(l => l.startsWith('Partial credit'))) {
    return '確かめる点の一部がまだ通っていません。答えを見直してください。';
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = /^([A-Za-z_][\w.]*(?:Error|Exception)|AssertionError)\s*(?::\s*(.*))?$/.exec(lines[i]);
    if (!match) {
      continue;
    }
    const [, kind, message] = match;
    const short = kind.split('.').pop() ?? kind;
    // Only the course's own assertions speak to the learner; Python's messages are English even when they quote a
    // Japanese name ("name '回答2' is not defined").
    if (short === 'AssertionError' && message && HAS_JAPANESE.test(message)) {
      return message;
    }
    return ERROR_KINDS[short] ?? 'この確認でエラーになりました。すぐ上の答えのセルを見直してください。';
  }
  return 'この確認が通りませんでした。すぐ上の答えのセルを見直してください。';
}

/**
 * One problem per place, in the order the places first come: two checks of the same 練習 (one answer checked twice)
 * are one place to fix, told once, with each different reason.
 */
export function byPlace(problems: Problem[]): Problem[] {
  const places = new Map<string, string[]>();
  for (const { where, what } of problems) {
    const reasons = places.get(where) ?? [];
    if (!reasons.includes(what)) {
      reasons.push(what);
    }
    places.set(where, reasons);
  }
  return [...places].map(([where, reasons]) => ({ where, what: reasons.join(' ') }));
}

/** The whole report for nbgrader's `{success, value}` reply of POST /assignments/validate. */
export function explainValidation(
  reply: { success?: boolean; value?: unknown },
  contact: string
): ValidationReport {
  if (!reply.success || typeof reply.value !== 'object' || reply.value === null) {
    console.warn('研修パネル: 確認の応答', reply);
    return {
      ok: false,
      headline: '確認を最後まで行えませんでした。',
      problems: [],
      next: `ノートブックを保存してから、もう一度「提出前の確認」を押してください。続くときは、${contact}`
    };
  }
  const value = reply.value as { failed?: FailedCell[]; changed?: FailedCell[]; type_changed?: FailedCell[] };
  if (value.type_changed?.length || value.changed?.length) {
    const cells = [...(value.type_changed ?? []), ...(value.changed ?? [])];
    return {
      ok: false,
      headline: '書きかえてはいけないセル（問題文や確認のセル）が変わっています。',
      problems: cells.map((cell, i) => ({
        where: checkName(cell.source, i + 1),
        what: 'このセルは元のままにしておく必要があります。'
      })),
      next: `このまま提出すると正しく採点できません。${contact}`
    };
  }
  const failed = value.failed ?? [];
  if (failed.length) {
    const problems = byPlace(
      failed.map((cell, i) => ({ where: checkName(cell.source, i + 1), what: reason(cell.raw_error) }))
    );
    return {
      ok: false,
      headline: `まだ提出できる状態ではありません（${problems.length}か所）。`,
      problems,
      next: '答えのセルを直して Shift + Enter で実行し、保存してから、もう一度「提出前の確認」を押してください。'
    };
  }
  return {
    ok: true,
    headline: '答えの形は整っています。',
    problems: [],
    next: '「提出する」を押して提出してください。答えが正しいかどうかは、提出後の採点で分かります。'
  };
}
