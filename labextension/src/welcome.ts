/**
 * 「はじめに」: the page that opens by itself at a person's first login (what this is, how long it takes, start with
 * B00, whom to ask). It can be opened again from the panel.
 */
import { Widget } from '@lumino/widgets';

import { Me } from './api';
import { timeEstimate } from './states';

function paragraph(text: string): HTMLParagraphElement {
  const node = document.createElement('p');
  node.textContent = text;
  return node;
}

function heading(level: 'h1' | 'h2', text: string): HTMLElement {
  const node = document.createElement(level);
  node.textContent = text;
  return node;
}

export class WelcomePage extends Widget {
  constructor(me: Me | null, contact: string, showPanel: () => void) {
    super();
    this.id = 'sano-kenshu-welcome';
    this.addClass('sano-kenshu-welcome');
    this.title.label = 'はじめに';
    this.title.closable = true;
    const steps = document.createElement('ol');
    for (const text of [
      '左の「研修」の一覧で、B00「はじめてのJupyter」の「受け取る」を押します。最初は B00 から始めてください。',
      '「開く」を押すと教材（ノートブック）が開きます。上から順に読み、灰色のセルは Shift + Enter で実行します。',
      '答えを書き終えたら「提出前の確認」を押します。直すところがあれば、どこをどう直すかが表示されます。',
      '問題がなければ「提出する」を押します。講師が採点すると、一覧に「採点済」「修了」と表示されます。'
    ]) {
      const item = document.createElement('li');
      item.textContent = text;
      steps.append(item);
    }
    const start = document.createElement('button');
    start.type = 'button';
    start.className = 'jp-mod-styled jp-mod-accept sano-kenshu-button';
    start.textContent = '研修の一覧を見る';
    start.addEventListener('click', showPanel);
    const name = me ? `${me.staff.name} さん、` : '';
    this.node.append(
      heading('h1', '佐野市デジタル人材育成 e-ラーニングへようこそ'),
      paragraph(
        `${name}この研修では、表やグラフを読む・作る・確かめるといった、仕事でデータとデジタルを使う力を、教材を動かしながら身につけます。教材に答えを書いて提出すると、講師が採点し、必修をすべて終えると修了証を受け取れます。`
      ),
      heading('h2', 'どのくらい時間がかかりますか'),
      paragraph(timeEstimate(me)),
      heading('h2', 'はじめ方'),
      steps,
      heading('h2', '困ったときは'),
      paragraph(contact),
      start
    );
  }
}
