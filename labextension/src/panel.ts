/**
 * The 研修 panel in JupyterLab's left side bar: the person's tracks, each module in the track's order with its state,
 * and the actions 受け取る・開く・提出前の確認・提出する・フィードバックを見る.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { Exchange, ExchangeEntry, loadRecords, Me, PanelError, Records, TrackRecord } from './api';
import { exchangeOnlyViews, japaneseDateTime, latestSubmission, ModuleView, moduleView, wallClock } from './states';
import { explainValidation } from './validation';

/** What the panel needs from JupyterLab around it (kept small so the panel does not know the application). */
export interface PanelHost {
  open(path: string): Promise<void>;
  /** Show a feedback page (an HTML file relative to the Jupyter root) in a tab called `label`. */
  showFeedback(path: string, label: string, description: string): Promise<void>;
  /** Save the open document at `path` if it has unsaved changes. */
  saveIfOpen(path: string): Promise<void>;
  showWelcome(): void;
  /** Whom to ask about learning (the modules, the panel) and about what is recorded (修了, 修了証). */
  contact(): string;
  recordsContact(): string;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function button(label: string, description: string, primary: boolean, onClick: () => void): HTMLButtonElement {
  const node = element('button', {
    type: 'button',
    class: `jp-mod-styled sano-kenshu-button ${primary ? 'jp-mod-accept' : 'jp-mod-reject'}`,
    'aria-label': description
  });
  node.textContent = label;
  node.addEventListener('click', onClick);
  return node;
}

export class KenshuPanel extends Widget {
  private readonly exchange = new Exchange();
  private records: Records = { kind: 'unreachable' };
  private entries: ExchangeEntry[] = [];
  private course = '';
  private busy = false;
  private readonly status: HTMLElement;
  private readonly body: HTMLElement;

  constructor(private readonly host: PanelHost) {
    super();
    this.id = 'sano-kenshu-panel';
    this.addClass('sano-kenshu-panel');
    this.title.caption = '研修';
    const heading = element('h2', { class: 'sano-kenshu-heading' }, '研修');
    const tools = element(
      'div',
      { class: 'sano-kenshu-tools' },
      button('最新の状態にする', '研修の一覧を最新の状態にする', false, () => void this.refresh()),
      button('はじめにの案内', 'はじめにの案内を開く', false, () => this.host.showWelcome())
    );
    this.status = element('p', { class: 'sano-kenshu-status', role: 'status', 'aria-live': 'polite' });
    this.body = element('div', { class: 'sano-kenshu-body' });
    this.node.append(heading, tools, this.status, this.body);
  }

  /** The last records (for the welcome page's time estimate). */
  get me(): Me | null {
    return this.records.kind === 'ok' ? this.records.me : null;
  }

  private say(message: string): void {
    this.status.textContent = message;
  }

  async refresh(): Promise<void> {
    this.say('研修の一覧を読み込んでいます…');
    const [records, exchange] = await Promise.all([loadRecords(), this.loadExchange()]);
    this.records = records;
    this.render();
    this.say(exchange ?? '');
  }

  /** nbgrader's list; returns a Japanese message when it failed. */
  private async loadExchange(): Promise<string | null> {
    try {
      if (!this.course) {
        this.course = (await this.exchange.courses())[0] ?? '';
      }
      this.entries = this.course ? await this.exchange.list(this.course) : [];
      return null;
    } catch (error) {
      if (error instanceof PanelError) {
        return error.message;
      }
      console.error('研修パネル', error);
      return '教材の一覧を読み込めませんでした。少し待ってから「最新の状態にする」を押してください。';
    }
  }

  private render(): void {
    this.body.replaceChildren();
    const records = this.records;
    if (records.kind === 'ok') {
      const { staff } = records.me;
      this.body.append(
        element('p', { class: 'sano-kenshu-person' }, `${staff.name} さん（${staff.department} ${staff.section}）`)
      );
      for (const track of records.me.tracks) {
        this.body.append(this.renderTrack(track));
      }
      this.body.append(element('p', { class: 'sano-kenshu-asof' }, `${japaneseDateTime(records.me.as_of)} 現在の記録`));
    } else {
      this.body.append(
        element(
          'p',
          { class: 'sano-kenshu-notice' },
          records.kind === 'refused'
            ? records.message
            : '受講記録（採点の結果・修了）をいまは読み込めません。教材の受け取りと提出はこのまま行えます。採点の結果は、あとで「最新の状態にする」を押すと表示されます。'
        )
      );
      const views = exchangeOnlyViews(this.entries);
      this.body.append(
        element('h3', { class: 'sano-kenshu-track-name' }, '教材'),
        views.length
          ? this.renderModules(views)
          : element('p', { class: 'sano-kenshu-empty' }, 'いま受け取れる教材はありません。')
      );
    }
    const contacts = [this.host.contact(), this.host.recordsContact()].filter(Boolean);
    this.body.append(
      element('h3', { class: 'sano-kenshu-subheading' }, '困ったときは'),
      ...contacts.map(text => element('p', { class: 'sano-kenshu-contact' }, text))
    );
  }

  private renderTrack(track: TrackRecord): HTMLElement {
    const section = element('section', { class: 'sano-kenshu-track', 'aria-label': `${track.name}の研修` });
    const progress =
      `必修 ${track.required_total} 件のうち ${track.required_passed} 件修了` +
      (track.electives_needed ? `・選択 ${track.electives_needed} 件のうち ${track.electives_passed} 件修了` : '');
    section.append(
      element('h3', { class: 'sano-kenshu-track-name' }, `${track.name}（${track.status}）`),
      element('p', { class: 'sano-kenshu-progress' }, progress)
    );
    if (track.completed_at) {
      section.append(element('p', {}, `${japaneseDateTime(track.completed_at)} に修了しました。`));
    }
    if (track.certificate_url) {
      const link = { class: 'sano-kenshu-certificate', href: track.certificate_url, target: '_blank', rel: 'noopener' };
      section.append(element('p', {}, element('a', link, '修了証（PDF）を開く')));
    }
    section.append(this.renderModules(track.modules.map(m => moduleView(m, m.assignment, this.entries))));
    return section;
  }

  private renderModules(views: ModuleView[]): HTMLElement {
    const list = element('ul', { class: 'sano-kenshu-modules' });
    for (const view of views) {
      const name = view.title ? `${view.id}「${view.title}」` : view.id;
      const facts = [
        view.required === null ? '' : view.required ? '必修' : '選択',
        view.minutes ? `目安 ${view.minutes}分` : '',
        view.deadline ? `期限 ${view.deadline}` : ''
      ].filter(Boolean);
      const item = element(
        'li',
        { class: `sano-kenshu-module sano-kenshu-${view.phase}`, 'data-module': view.id },
        element('h4', { class: 'sano-kenshu-module-name' }, name),
        element('p', { class: 'sano-kenshu-state' }, element('span', { class: 'sano-kenshu-badge' }, view.label)),
        element('p', { class: 'sano-kenshu-facts' }, facts.join('・'))
      );
      const actions = this.actions(view, name);
      if (actions.length) {
        item.append(element('div', { class: 'sano-kenshu-actions' }, ...actions));
      }
      list.append(item);
    }
    return list;
  }

  private actions(view: ModuleView, name: string): HTMLButtonElement[] {
    const actions: HTMLButtonElement[] = [];
    if (view.phase === 'released') {
      actions.push(button('受け取る', `${name}を受け取る`, true, () => void this.fetch(view, name)));
      return actions;
    }
    if (view.phase === 'preparing' || !view.notebooks.length) {
      return actions;
    }
    actions.push(button('開く', `${name}を開く`, view.phase === 'fetched', () => void this.openNotebooks(view)));
    if (view.phase !== 'completed') {
      actions.push(
        button('提出前の確認', `${name}を提出前に確認する`, false, () => void this.validate(view, name)),
        button('提出する', `${name}を提出する`, false, () => void this.submit(view, name))
      );
    }
    if (view.feedback) {
      actions.push(button('フィードバックを見る', `${name}のフィードバックを見る`, false, () => void this.feedback(view, name)));
    }
    return actions;
  }

  /** Run `work` with every button of the panel disabled, saying `doing` meanwhile; errors are told in Japanese. */
  private async withBusy(doing: string, work: () => Promise<void>): Promise<void> {
    if (this.busy) {
      return;
    }
    this.busy = true;
    this.node.setAttribute('aria-busy', 'true');
    this.node.querySelectorAll('button').forEach(b => (b.disabled = true));
    this.say(doing);
    try {
      await work();
    } catch (error) {
      const message = error instanceof PanelError ? error.message : '思わぬ理由で処理が止まりました。もう一度お試しください。';
      if (!(error instanceof PanelError)) {
        console.error('研修パネル', error);
      }
      this.say(message);
      await showDialog({ title: 'できませんでした', body: message, buttons: [Dialog.okButton({ label: '閉じる' })] });
    } finally {
      this.busy = false;
      this.node.removeAttribute('aria-busy');
      this.node.querySelectorAll('button').forEach(b => (b.disabled = false));
      this.render();
    }
  }

  private async fetch(view: ModuleView, name: string): Promise<void> {
    await this.withBusy(`${name}を受け取っています…`, async () => {
      this.entries = await this.exchange.act('fetch', this.course, view.assignment);
      const fetched = this.entries.find(e => e.assignment_id === view.assignment && e.status === 'fetched');
      if (!fetched) {
        throw new PanelError(`${name}を受け取れませんでした。少し待ってから、もう一度「受け取る」を押してください。`);
      }
      this.say(`${name}を受け取りました。「開く」を押して始めてください。`);
    });
  }

  private async openNotebooks(view: ModuleView): Promise<void> {
    for (const path of view.notebooks) {
      await this.host.open(path);
    }
  }

  private async validate(view: ModuleView, name: string): Promise<void> {
    await this.withBusy(`${name}を確認しています（1分ほどかかることがあります）…`, async () => {
      const reports = [];
      for (const path of view.notebooks) {
        await this.host.saveIfOpen(path);
        reports.push(explainValidation(await this.exchange.validate(path), this.host.contact()));
      }
      const ok = reports.every(r => r.ok);
      const body = element('div', { class: 'sano-kenshu-report' });
      for (const report of reports) {
        body.append(element('p', { class: 'sano-kenshu-report-headline' }, report.headline));
        if (report.problems.length) {
          body.append(
            element(
              'ul',
              { class: 'sano-kenshu-problems' },
              ...report.problems.map(p => element('li', {}, element('strong', {}, `${p.where}：`), p.what))
            )
          );
        }
        body.append(element('p', { class: 'sano-kenshu-report-next' }, report.next));
      }
      this.say(ok ? `${name}: 確認できました。提出できます。` : `${name}: 直すところがあります。`);
      await showDialog({
        title: ok ? `${name}の確認: 提出できます` : `${name}の確認: 直すところがあります`,
        body: new Widget({ node: body }),
        buttons: [Dialog.okButton({ label: '閉じる' })]
      });
    });
  }

  private async submit(view: ModuleView, name: string): Promise<void> {
    const files = view.notebooks.join('、');
    const confirm = await showDialog({
      title: `${name}を提出しますか？`,
      body: new Widget({
        node: element(
          'div',
          {},
          element('p', {}, `提出するファイル: ${files}`),
        element('p', {}, '保存していない変更は、提出の前に保存します。'),
          element('p', {}, '提出したあとも出し直せます（最後に提出したものが採点されます）。')
        )
      }),
      buttons: [Dialog.cancelButton({ label: 'やめる' }), Dialog.okButton({ label: '提出する' })]
    });
    if (!confirm.button.accept) {
      return;
    }
    await this.withBusy(`${name}を提出しています…`, async () => {
      for (const path of view.notebooks) {
        await this.host.saveIfOpen(path);
      }
      const before = latestSubmission(this.entries, view.assignment)?.timestamp ?? '';
      this.entries = await this.exchange.act('submit', this.course, view.assignment);
      const submission = latestSubmission(this.entries, view.assignment);
      if (!submission || submission.timestamp === before) {
        throw new PanelError(`${name}を提出できませんでした。少し待ってから、もう一度「提出する」を押してください。`);
      }
      const when = japaneseDateTime(wallClock(submission.timestamp));
      this.say(`${name}を ${when} に提出しました。`);
      this.render(); // the list behind the receipt already says 提出済
      await showDialog({
        title: '提出しました',
        body: new Widget({
          node: element(
            'div',
            { class: 'sano-kenshu-receipt' },
          element('p', {}, `${name}を ${when} に提出しました。`),
          element('p', {}, `提出したファイル: ${files}`),
            element('p', {}, '講師が採点すると、この一覧に「採点済」と表示されます。')
          )
        }),
        buttons: [Dialog.okButton({ label: '閉じる' })]
      });
    });
  }

  private async feedback(view: ModuleView, name: string): Promise<void> {
    await this.withBusy('フィードバックを用意しています…', async () => {
      let path = view.feedback?.path ?? null;
      if (view.feedback?.toFetch || !path) {
        this.entries = await this.exchange.act('fetch_feedback', this.course, view.assignment);
        path = moduleView(null, view.assignment, this.entries).feedback?.path ?? null;
      }
      if (!path) {
        throw new PanelError('フィードバックはまだありません。採点が終わると見られるようになります。');
      }
      await this.host.showFeedback(path, `${view.id} フィードバック`, `${name}のフィードバック`);
      this.say('');
    });
  }
}
