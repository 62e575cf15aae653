import type { TagRow } from '../../storage/manifest-index.js';
import { formatSize, formatTime, isoTime, shortDigest } from '../format.js';
import { html, query, type Html, type Part } from '../html.js';
import { layout, pager, type PageContext } from '../layout.js';
import type { ReleaseRow } from '../tag-groups.js';

export type Row = { kind: 'line'; line: string } | { kind: 'release'; row: ReleaseRow } | { kind: 'others' } | { kind: 'other'; row: TagRow };

export interface RepositoryView {
  name: string;
  rows: Row[];
  total: number;
  page: number;
  pages: number;
  filter: string;
  canDelete: boolean;
}

export function repositoryPage(ctx: PageContext, v: RepositoryView): Html {
  const tagCell = (r: TagRow, aliases: string[] = []): Part => html`<td class="name"><a href="/ui/image${query({ name: v.name, ref: r.tag })}">${r.tag}</a>
${aliases.length ? html`<div>${aliases.map((a) => html`<span class="chip" title="floating tag">${a}</span>`)}</div>` : ''}</td>`;
  const rest = (r: TagRow): Part => html`<td class="mono opt"><a href="/ui/image${query({ name: v.name, ref: r.digest })}" title="${r.digest}">${shortDigest(r.digest)}</a></td>
<td class="num">${formatSize(r.summary?.size)}</td>
<td class="opt">${(r.summary?.platforms ?? []).map((p) => html`<span class="chip">${p}</span>`)}${r.summary?.artifactType ? html`<span class="chip">${r.summary.artifactType}</span>` : ''}</td>
<td class="num"><time datetime="${isoTime(r.pushed)}">${formatTime(r.pushed)}</time></td>
${v.canDelete ? html`<td class="num"><a class="button danger copy" href="/ui/delete${query({ name: v.name, ref: r.tag })}">Delete</a></td>` : ''}`;
  const cols = v.canDelete ? 6 : 5;
  const body = html`<div class="crumbs"><a href="/ui/">Repositories</a> /</div>
<h1>${v.name}</h1>
<form class="searchbar" method="get" action="/ui/repo">
<input type="hidden" name="name" value="${v.name}">
<input type="search" name="filter" value="${v.filter}" placeholder="Filter tags…" aria-label="Filter tags" maxlength="128">
<button type="submit">Filter</button>
</form>
${copyPull(ctx, v.name)}
<div class="card">
<table>
<thead><tr><th>Tag</th><th class="opt">Digest</th><th class="num">Size</th><th class="opt">Platforms</th><th class="num">Pushed</th>${v.canDelete ? html`<th></th>` : ''}</tr></thead>
<tbody>
${v.rows.length === 0 ? html`<tr><td colspan="${cols}" class="muted">${v.filter ? 'No tag matches.' : 'No tags.'}</td></tr>` : ''}
${v.rows.map((r) => {
  switch (r.kind) {
    case 'line':
      return html`<tr><th colspan="${cols}" class="line">Release line ${r.line}</th></tr>`;
    case 'others':
      return html`<tr><th colspan="${cols}" class="line">Other tags</th></tr>`;
    case 'release':
      return html`<tr>${tagCell(r.row, r.row.aliases)}${rest(r.row)}</tr>`;
    case 'other':
      return html`<tr>${tagCell(r.row)}${rest(r.row)}</tr>`;
  }
})}
</tbody>
</table>
</div>
${pager('/ui/repo', { name: v.name, filter: v.filter || undefined }, v.page, v.pages, v.total, v.total === 1 ? 'tag' : 'tags')}`;
  return layout(ctx, v.name, body);
}

function copyPull(ctx: PageContext, name: string): Html {
  return html`<p class="muted">Pull: <code>docker pull ${ctx.host}/${name}:TAG</code></p>`;
}
