/**
 * What the panel shows for one module: its state in Japanese and which actions it offers.
 *
 * Pure: nbgrader's exchange list (未受取 / 受講中 / 提出済) and the course's records (採点済 / 修了) in, a view out.
 * A module is 採点済 or 修了 only when the records say so; nbgrader alone knows only what was fetched and submitted.
 * Also the panel's and 「はじめに」's other pure words: dates in 和暦, the time the person's modules take.
 */
import { ExchangeEntry, ExchangeSubmission, Me, ModuleRecord } from './api';

export type Phase = 'preparing' | 'released' | 'fetched' | 'submitted' | 'graded' | 'completed';

export interface Feedback {
  /** Feedback is in the exchange and not yet (or not in its latest version) in the person's folder. */
  toFetch: boolean;
  /** The feedback page to open (relative to the Jupyter root), once fetched. */
  path: string | null;
}

export interface ModuleView {
  id: string; // B00
  title: string; // はじめてのJupyter ("" when the records are unavailable)
  assignment: string; // b00
  required: boolean | null; // null: unknown without the records
  phase: Phase;
  label: string; // 未受取 / 受講中 / 提出済（令和8年12月7日 20:15） / 採点済（40 %、合格基準 60 %に届かず） / 修了（90 %） / 準備中
  deadline: string | null; // 令和9年3月15日
  minutes: number | null;
  passMark: number | null; // 60 (点)
  notebooks: string[]; // b00/b00.ipynb, relative to the Jupyter root
  feedback: Feedback | null;
}

/** "2026-12-07 20:15:03.123456 JST-9" (nbgrader) or "2026-12-07T20:15:03+09:00" (records) → "2026-12-07 20:15:03". */
export function wallClock(timestamp: string): string {
  return timestamp.replace('T', ' ').slice(0, 19);
}

/** "2027-03-15" → "令和9年3月15日": 和暦, as the city writes dates and as the records and feedback pages write them.
 * The same rule as course/wareki.py: 令和 from 2019-05-01, 平成 before; an era's first year is 元年. */
export function japaneseDate(date: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(date);
  if (!match) {
    return date;
  }
  const [iso, year, month, day] = match;
  const [era, firstYear] = iso >= '2019-05-01' ? ['令和', 2019] : ['平成', 1989];
  const eraYear = Number(year) - firstYear + 1;
  return `${era}${eraYear === 1 ? '元' : eraYear}年${Number(month)}月${Number(day)}日`;
}

/** "2026-12-07 20:15:03…" → "令和8年12月7日 20:15" (Japan time, as stored; no seconds, no microseconds). */
export function japaneseDateTime(timestamp: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})/.exec(timestamp);
  return match ? `${japaneseDate(match[1])} ${match[2]}` : timestamp;
}

/** 0.384 → "38 %", as the records page and the feedback page write a score against the pass mark. */
export function percent(ratio: number): string {
  return `${Math.round(ratio * 100)} %`;
}

/** The newest submission of `assignment` in nbgrader's list, if any. */
export function latestSubmission(entries: ExchangeEntry[], assignment: string): ExchangeSubmission | null {
  const submitted = entries.find(e => e.assignment_id === assignment && e.status === 'submitted');
  const submissions = [...(submitted?.submissions ?? [])].sort((a, b) =>
    wallClock(a.timestamp).localeCompare(wallClock(b.timestamp))
  );
  return submissions.length ? submissions[submissions.length - 1] : null;
}

function feedbackOf(submission: ExchangeSubmission | null): Feedback | null {
  if (!submission || !(submission.has_exchange_feedback || submission.has_local_feedback)) {
    return null;
  }
  const local = submission.notebooks.find(n => n.local_feedback_path)?.local_feedback_path ?? null;
  return {
    toFetch: Boolean(submission.has_exchange_feedback && (!submission.has_local_feedback || submission.feedback_updated)),
    path: local
  };
}

/** One module's view from its record (null when the records service is unavailable) and nbgrader's list. */
export function moduleView(record: ModuleRecord | null, assignment: string, entries: ExchangeEntry[]): ModuleView {
  const mine = entries.filter(e => e.assignment_id === assignment);
  const local = mine.find(e => e.status === 'released' || e.status === 'fetched');
  const submission = latestSubmission(entries, assignment);
  const notebooks = (local?.notebooks ?? submission?.notebooks ?? []).map(n => `${assignment}/${n.notebook_id}.ipynb`);
  let phase: Phase = 'preparing';
  let label = '準備中';
  if (local?.status === 'released') {
    [phase, label] = ['released', '未受取'];
  }
  if (local?.status === 'fetched') {
    [phase, label] = ['fetched', '受講中'];
  }
  if (submission) {
    [phase, label] = ['submitted', `提出済（${japaneseDateTime(wallClock(submission.timestamp))}）`];
  }
  const gradedSubmission = record?.submitted_at ? wallClock(record.submitted_at) : '';
  const resubmitted = submission !== null && wallClock(submission.timestamp) > gradedSubmission;
  if (record?.status === '修了') {
    [phase, label] = ['completed', record.score_ratio === null ? '修了' : `修了（${percent(record.score_ratio)}）`];
  } else if (record && record.score_ratio !== null && record.status !== '採点待ち' && !resubmitted) {
    const mark = `合格基準 ${percent(record.pass_ratio)}に届かず`;
    [phase, label] = ['graded', `採点済（${percent(record.score_ratio)}、${mark}）`];
  }
  return {
    id: record?.id ?? assignment.toUpperCase(),
    title: record?.title ?? '',
    assignment,
    required: record?.required ?? null,
    phase,
    label,
    deadline: record?.deadline ? japaneseDate(record.deadline) : null,
    minutes: record?.minutes ?? null,
    passMark: record ? Math.round(record.pass_ratio * 100) : null,
    notebooks,
    feedback: feedbackOf(submission)
  };
}

/** Every assignment nbgrader knows, for when the records service cannot be reached: by code, as released. */
export function exchangeOnlyViews(entries: ExchangeEntry[]): ModuleView[] {
  const assignments = [...new Set(entries.map(e => e.assignment_id))].sort();
  return assignments.map(a => moduleView(null, a, entries));
}

/** 「はじめに」's time: "あなたのモジュールは必修 13 件と選択 2 件で、目安は合わせて約 20 時間です。…" from the records
 * (each module once, even when two tracks share it; a track's electives counted as many as it needs, each at the
 * average of its electives' minutes), or a general sentence when the records or some module's minutes are missing. */
export function timeEstimate(me: Me | null): string {
  const general = '1つのモジュールは、読みながら手を動かして 30分〜1時間半ほどです。途中で保存して、続きは別の日にできます。';
  const tracks = me?.tracks ?? [];
  const required = new Map(tracks.flatMap(t => t.modules.filter(m => m.required).map(m => [m.id, m.minutes] as const)));
  let minutes = 0;
  for (const value of required.values()) {
    if (value === null) {
      return general;
    }
    minutes += value;
  }
  let electives = 0;
  for (const track of tracks.filter(t => t.electives_needed)) {
    const choices = track.modules.filter(m => !m.required).map(m => m.minutes);
    if (!choices.length || choices.some(m => m === null)) {
      return general;
    }
    electives += track.electives_needed;
    minutes += (track.electives_needed * choices.reduce((sum: number, m) => sum + (m ?? 0), 0)) / choices.length;
  }
  if (!required.size || !minutes) {
    return general;
  }
  const hours = Math.max(1, Math.round(minutes / 30) / 2);
  const count = electives ? `必修 ${required.size} 件と選択 ${electives} 件` : `必修 ${required.size} 件`;
  const vary = electives ? '（選択は、選ぶモジュールによって前後します）' : '';
  return `あなたのモジュールは${count}で、目安は合わせて約 ${hours} 時間です${vary}。1回で終える必要はありません。途中で保存して、続きは別の日にできます。`;
}
