/**
 * The two servers the panel talks to:
 *
 * - nbgrader's own student-side handlers on the person's Jupyter server (list, fetch, submit, fetch_feedback,
 *   validate), so the exchange, its permissions and the gradebook stay exactly as nbgrader keeps them;
 * - the course's hub service `kenshu` (/services/kenshu/api/me), which reads the gradebook and the roster and says
 *   which tracks and modules the person has and what is graded or completed.
 *
 * Failures become `PanelError`s with a Japanese message; what the server said goes to the browser console only.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

// --- nbgrader's exchange, as its assignment_list server extension returns it -----------------------------------
export interface ExchangeNotebook {
  notebook_id: string;
  has_local_feedback?: boolean;
  has_exchange_feedback?: boolean;
  local_feedback_path?: string | null;
  feedback_updated?: boolean;
}

export interface ExchangeSubmission {
  timestamp: string; // the exchange's own format, in Japan time: "2026-12-07 20:15:03.123456 JST-9"
  notebooks: ExchangeNotebook[];
  has_local_feedback?: boolean;
  has_exchange_feedback?: boolean;
  feedback_updated?: boolean;
}

export interface ExchangeEntry {
  course_id: string;
  assignment_id: string;
  status: 'released' | 'fetched' | 'submitted';
  notebooks?: ExchangeNotebook[];
  submissions?: ExchangeSubmission[];
}

// --- the course's records (hub service `kenshu`, GET /services/kenshu/api/me) -----------------------------------
export interface ModuleRecord {
  id: string;
  title: string;
  assignment: string;
  required: boolean;
  status: string; // 修了 | 採点待ち | 受講中 | 未提出 | 準備中
  score_ratio: number | null;
  pass_ratio: number;
  submitted_at: string | null;
  completed_at: string | null;
  deadline: string | null;
  minutes: number | null;
}

export interface TrackRecord {
  key: string;
  name: string;
  status: string;
  required_passed: number;
  required_total: number;
  electives_passed: number;
  electives_needed: number;
  completed_at: string | null;
  certificate_url: string | null;
  modules: ModuleRecord[];
}

export interface StaffRecord {
  staff_id: string;
  name: string;
  department: string;
  section: string;
  position: string;
  grade: string;
  promoter: boolean;
}

export interface Me {
  as_of: string;
  staff: StaffRecord;
  tracks: TrackRecord[];
}

/** What the records service answered: the records, a Japanese refusal (not on the roster), or nothing usable. */
export type Records =
  | { kind: 'ok'; me: Me }
  | { kind: 'refused'; message: string }
  | { kind: 'unreachable' };

/** A failure to show as it is: `message` is Japanese and says what to do next. */
export class PanelError extends Error {}

const EXCHANGE_FAILED =
  '研修の教材の置き場所に接続できませんでした。少し待ってから「最新の状態にする」を押してください。続くときは、下の「困ったときは」の連絡先に相談してください。';

/** nbgrader's student-side handlers on this Jupyter server. */
export class Exchange {
  private readonly settings = ServerConnection.makeSettings();

  private async call(method: 'GET' | 'POST', path: string, query: Record<string, string>): Promise<unknown> {
    const url = URLExt.join(this.settings.baseUrl, path) + URLExt.objectToQueryString(query);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, { method }, this.settings);
    } catch (error) {
      console.warn('研修パネル: nbgrader に接続できません', error);
      throw new PanelError(EXCHANGE_FAILED);
    }
    if (!response.ok) {
      console.warn('研修パネル: nbgrader の応答', response.status, await response.text());
      throw new PanelError(EXCHANGE_FAILED);
    }
    return response.json();
  }

  private async exchange(method: 'GET' | 'POST', path: string, query: Record<string, string>): Promise<ExchangeEntry[]> {
    const reply = (await this.call(method, path, query)) as { success?: boolean; value?: unknown };
    if (reply.success === false || !Array.isArray(reply.value)) {
      console.warn('研修パネル: nbgrader の応答', reply);
      throw new PanelError(EXCHANGE_FAILED);
    }
    return reply.value as ExchangeEntry[];
  }

  /** The course ids this person's exchange knows (usually one). */
  async courses(): Promise<string[]> {
    const reply = (await this.call('GET', 'courses', {})) as { success?: boolean; value?: unknown };
    return reply.success && Array.isArray(reply.value) ? (reply.value as string[]) : [];
  }

  list(course: string): Promise<ExchangeEntry[]> {
    return this.exchange('GET', 'assignments', { course_id: course });
  }

  /** fetch, submit or fetch_feedback; nbgrader answers with the new list. */
  act(action: 'fetch' | 'submit' | 'fetch_feedback', course: string, assignment: string): Promise<ExchangeEntry[]> {
    return this.exchange('POST', `assignments/${action}`, { course_id: course, assignment_id: assignment });
  }

  /** nbgrader's validate_assignment handler: `{success, value}` as it returns it (see validation.ts). */
  async validate(path: string): Promise<{ success?: boolean; value?: unknown }> {
    return (await this.call('POST', 'assignments/validate', { path })) as { success?: boolean; value?: unknown };
  }
}

/** Where the hub serves the course's `kenshu` service, or null outside a hub (e.g. `jupyter lab` on a laptop). */
export function serviceUrl(): string | null {
  const hubPrefix = PageConfig.getOption('hubPrefix'); // "/hub/" behind JupyterHub
  if (!hubPrefix) {
    return null;
  }
  return URLExt.join(hubPrefix.replace(/hub\/?$/, ''), 'services', 'kenshu') + '/';
}

/** The person's records from the `kenshu` service; never throws. */
export async function loadRecords(): Promise<Records> {
  const base = serviceUrl();
  if (base === null) {
    return { kind: 'unreachable' };
  }
  try {
    // The hub takes a script's request to a service by token, not by cookie (no XSRF token for the service's path
    // can be read here): the token JupyterLab holds for this server may also reach `kenshu` (jupyterhub_config.py).
    const token = PageConfig.getToken();
    const response = await fetch(base + 'api/me', {
      credentials: 'same-origin',
      headers: { Accept: 'application/json', ...(token ? { Authorization: `token ${token}` } : {}) },
      cache: 'no-store'
    });
    const isJson = (response.headers.get('Content-Type') ?? '').includes('json');
    if (response.status === 404 && isJson) {
      const body = (await response.json()) as { message?: unknown };
      if (typeof body.message === 'string' && body.message) {
        return { kind: 'refused', message: body.message };
      }
    }
    if (!response.ok || !isJson) {
      console.warn('研修パネル: 受講記録の応答', response.status, response.url);
      return { kind: 'unreachable' };
    }
    const me = (await response.json()) as Me;
    if (!me || !me.staff || !Array.isArray(me.tracks)) {
      console.warn('研修パネル: 受講記録の形が違います', me);
      return { kind: 'unreachable' };
    }
    return { kind: 'ok', me };
  } catch (error) {
    console.warn('研修パネル: 受講記録に接続できません', error);
    return { kind: 'unreachable' };
  }
}
