/**
 * 佐野市デジタル人材育成 e-ラーニング: the 研修 panel for staff (replaces nbgrader's Assignment List, which the hub
 * turns off for staff) and the 「はじめに」 page that opens by itself at the first login.
 */
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IFrame, LabIcon } from '@jupyterlab/ui-components';

import { KenshuPanel } from './panel';
import { WelcomePage } from './welcome';

const PLUGIN_ID = '@sano-dx/kenshu:plugin';

const COMMANDS = { panel: 'sano-kenshu:open-panel', welcome: 'sano-kenshu:open-welcome' };

// An open book, drawn in JupyterLab's icon colour so it follows the light and dark themes.
const bookIcon = new LabIcon({
  name: 'sano-kenshu:book',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16"><path class="jp-icon3" fill="#616161" d="M12 6.5C10.3 5.3 8 4.8 5.5 4.8c-1.2 0-2.4.1-3.5.4v13.6c1.1-.3 2.3-.4 3.5-.4 2.5 0 4.8.5 6.5 1.7 1.7-1.2 4-1.7 6.5-1.7 1.2 0 2.4.1 3.5.4V5.2c-1.1-.3-2.3-.4-3.5-.4-2.5 0-4.8.5-6.5 1.7zm-1 11.2c-1.6-.8-3.5-1.1-5.5-1.1-.8 0-1.7.1-2.5.2V6.9c.8-.2 1.6-.3 2.5-.3 2 0 3.9.4 5.5 1.3v9.8zm10-.9c-.8-.1-1.7-.2-2.5-.2-2 0-3.9.4-5.5 1.1V7.9c1.6-.9 3.5-1.3 5.5-1.3.9 0 1.7.1 2.5.3v9.9z"/></svg>'
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: '研修パネル（教材の受け取り・提出前の確認・提出・フィードバック）と「はじめに」',
  autoStart: true,
  optional: [ISettingRegistry, IDocumentManager, ICommandPalette, ILayoutRestorer, ILabShell],
  activate: async (
    app: JupyterFrontEnd,
    registry: ISettingRegistry | null,
    documents: IDocumentManager | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const settings = registry ? await registry.load(PLUGIN_ID).catch(() => null) : null;
    // Whom to ask: the hub sets both from the course's settings/curriculum.toml (deploy/jupyterhub_config.py).
    const setting = (key: string) => (settings?.get(key).composite as string | undefined) ?? '';
    const contact = () => setting('contact');
    let welcome: MainAreaWidget<WelcomePage> | null = null;
    const feedbackTabs = new Map<string, MainAreaWidget<IFrame>>();

    const panel: KenshuPanel = new KenshuPanel({
      open: async path => {
        await app.commands.execute('docmanager:open', { path });
      },
      // The feedback page is plain HTML and CSS, no script: shown as JupyterLab's HTML viewer shows an untrusted file
      // (the file's text as a blob: address in a frame that runs no script), in a tab named for the module. Not the
      // HTML viewer itself: its tab is named after the file (b00.html), renaming that tab renames the file, and its
      // toolbar asks 「HTMLを信用する」 (let scripts run). Not the file's /files/ address: the hub's servers may not
      // be framed (frame-ancestors 'none').
      showFeedback: async (path, label, description) => {
        let tab = feedbackTabs.get(path);
        if (!tab || tab.isDisposed) {
          const frame = new IFrame({ sandbox: ['allow-same-origin'], referrerPolicy: 'no-referrer' });
          frame.node.querySelector('iframe')?.setAttribute('title', description);
          tab = new MainAreaWidget({ content: frame });
          tab.id = `sano-kenshu-feedback-${path.replace(/[^A-Za-z0-9_-]/g, '-')}`;
          tab.addClass('sano-kenshu-feedback');
          tab.title.label = label;
          tab.title.caption = description;
          tab.title.icon = bookIcon;
          tab.title.closable = true;
          tab.toolbar.hide();
          tab.disposed.connect(widget => URL.revokeObjectURL(widget.content.url));
          feedbackTabs.set(path, tab);
          app.shell.add(tab, 'main');
        }
        // Read each time: feedback returned again shows its newest version.
        const file = await app.serviceManager.contents.get(path, { type: 'file', format: 'text', content: true });
        const old = tab.content.url;
        tab.content.url = URL.createObjectURL(new Blob([String(file.content)], { type: 'text/html' }));
        if (old) {
          URL.revokeObjectURL(old);
        }
        app.shell.activateById(tab.id);
      },
      saveIfOpen: async path => {
        const widget = documents?.findWidget(path);
        const context = widget ? documents?.contextForWidget(widget) : undefined;
        if (context?.model.dirty) {
          await context.save();
        }
      },
      showWelcome: () => void app.commands.execute(COMMANDS.welcome),
      contact,
      recordsContact: () => setting('recordsContact')
    });
    panel.title.icon = bookIcon;
    app.shell.add(panel, 'left', { rank: 50 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(COMMANDS.panel, {
      label: '研修の一覧を開く',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(COMMANDS.welcome, {
      label: '「はじめに」を開く',
      execute: () => {
        if (!welcome || welcome.isDisposed) {
          const page = new WelcomePage(panel.me, contact(), () => {
            welcome?.close();
            app.shell.activateById(panel.id);
          });
          welcome = new MainAreaWidget({ content: page });
          welcome.id = 'sano-kenshu-welcome-area';
          welcome.title.label = 'はじめに';
          welcome.title.icon = bookIcon;
          welcome.title.closable = true;
          app.shell.add(welcome, 'main');
        }
        app.shell.activateById(welcome.id);
      }
    });
    palette?.addItem({ command: COMMANDS.panel, category: '研修' });
    palette?.addItem({ command: COMMANDS.welcome, category: '研修' });

    // Not awaited: JupyterLab restores its layout only after every plugin has activated.
    void app.restored.then(async () => {
      await panel.refresh();
      if (settings && !settings.get('welcomeShown').composite) {
        app.shell.activateById(panel.id);
        await app.commands.execute(COMMANDS.welcome);
        await settings.set('welcomeShown', true);
      }
    });
  }
};

export default plugin;
