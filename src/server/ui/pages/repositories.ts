import type { RepositorySummary } from '../../storage/manifest-index.js';
import { formatSize, formatTime, isoTime } from '../format.js';
import { html, query, type Html } from '../html.js';
import { layout, pager, type PageContext } from '../layout.js';

/** What the "Pull-through cache" panel shows (`--mirror`). */
export interface MirrorPanel {
  stats: Readonly<{ hits: number; misses: number; upstreamBytes: number; staleServes: number; upstreamErrors: number }>;
  upstreams: ReadonlyArray<{ prefix: string; url: string }>;
  defaultPrefix?: string;
}

export interface RepositoriesView {
  mirror?: MirrorPanel;
  /** `counting`: its totals are still being computed (a cold index). */
  rows: Array<{ name: string; summary?: RepositorySummary; counting?: boolean }>;
  total: number;
  page: number;
  pages: number;
  q: string;
  /** Anonymous and nothing readable: invite a sign-in instead of an empty list. */
  needSignIn: boolean;
}

export function repositoriesPage(ctx: PageContext, v: RepositoriesView): Html {
  const body = html`<h1>Repositories</h1>
${v.needSignIn ? html`<p class="notice">Sign in to see the repositories you may read.</p>` : ''}
<form class="searchbar" method="get" action="/ui/">
<input type="search" name="q" value="${v.q}" placeholder="Name contains…" aria-label="Filter repositories" maxlength="255">
<button type="submit">Search</button>
</form>
${v.rows.some((r) => r.counting) ? html`<p class="notice">Some totals are still being counted; <a href="${ctx.here}">reload</a> in a moment.</p>` : ''}
<div class="card">
<table>
<thead><tr><th>Name</th><th class="num">Tags</th><th class="num">Size</th><th class="num opt">Last push</th></tr></thead>
<tbody>
${v.rows.length === 0 ? html`<tr><td colspan="4" class="muted">${v.q ? 'No repository matches.' : 'No repositories yet.'}</td></tr>` : ''}
${v.rows.map(
  (r) => r.counting
    ? html`<tr><td class="name"><a href="/ui/repo${query({ name: r.name })}">${r.name}</a></td>
<td class="num muted" colspan="3">counting…</td></tr>`
    : html`<tr><td class="name"><a href="/ui/repo${query({ name: r.name })}">${r.name}</a></td>
<td class="num">${r.summary?.tags ?? '-'}</td><td class="num">${formatSize(r.summary?.size)}</td>
<td class="num opt"><time datetime="${isoTime(r.summary?.lastPush)}">${formatTime(r.summary?.lastPush)}</time></td></tr>`,
)}
</tbody>
</table>
</div>
${v.mirror ? mirrorPanel(v.mirror) : ''}
${pager('/ui/', { q: v.q || undefined }, v.page, v.pages, v.total, v.total === 1 ? 'repository' : 'repositories')}`;
  return layout({ ...ctx, q: v.q }, 'Repositories', body);
}

function mirrorPanel(m: MirrorPanel): Html {
  const s = m.stats;
  return html`<section class="mirror" aria-label="Pull-through cache"><h2>Pull-through cache</h2>
<div class="card"><dl class="facts">
<dt>Hits</dt><dd class="num">${s.hits}</dd>
<dt>Misses</dt><dd class="num">${s.misses}</dd>
<dt>From upstream</dt><dd class="num">${formatSize(s.upstreamBytes)}</dd>
<dt>Stale serves</dt><dd class="num">${s.staleServes}</dd>
<dt>Upstream errors</dt><dd class="num">${s.upstreamErrors}</dd>
${m.upstreams.map((u) => html`<dt>Upstream <code>${u.prefix}</code>${u.prefix === m.defaultPrefix ? ' (default)' : ''}</dt><dd>${u.url}</dd>`)}
</dl></div></section>`;
}
