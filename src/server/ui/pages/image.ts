import type { Descriptor } from '../../../oci/manifest.js';
import { formatSize, shortDigest } from '../format.js';
import { html, query, type Html, type Part } from '../html.js';
import { copyable, layout, type PageContext } from '../layout.js';

export interface ImageView {
  name: string;
  /** The tag or digest the page was asked for. */
  ref: string;
  digest: string;
  mediaType: string;
  manifestSize: number;
  totalSize?: number;
  artifactType?: string;
  /** Tags of the repository that point at this digest. */
  tags: string[];
  annotations?: Record<string, string>;
  subject?: string;
  index?: Array<{ digest: string; platform: string; mediaType: string; size: number }>;
  config?: { descriptor: Descriptor; json?: Record<string, unknown> };
  layers?: Descriptor[];
  referrers: Array<{ artifactType: string; items: Descriptor[] }>;
  canDelete: boolean;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strList = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
const strMap = (v: unknown): Array<[string, string]> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]) : [];

function facts(items: Array<[string, Part] | false | undefined | "">): Html {
  return html`<dl class="facts">${items.map((i) => (i ? html`<dt>${i[0]}</dt><dd>${i[1]}</dd>` : ''))}</dl>`;
}

function kv(entries: Array<[string, string]>): Part {
  if (entries.length === 0) return html`<span class="muted">none</span>`;
  return entries.map(([k, v]) => html`<div><code>${k}</code> = <code>${v}</code></div>`);
}

export function imagePage(ctx: PageContext, v: ImageView): Html {
  const isDigest = v.ref.includes(':');
  const pullRef = `${ctx.host}/${v.name}${isDigest ? `@${v.ref}` : `:${v.ref}`}`;
  const cfg = v.config?.json;
  const inner = (cfg?.config ?? {}) as Record<string, unknown>;
  const history = Array.isArray(cfg?.history) ? (cfg!.history as Array<Record<string, unknown>>).slice(0, 500) : [];
  const body = html`<div class="crumbs"><a href="/ui/">Repositories</a> / <a href="/ui/repo${query({ name: v.name })}">${v.name}</a> /</div>
<h1>${v.name}${isDigest ? '@' : ':'}${isDigest ? shortDigest(v.ref) : v.ref}</h1>
<h2>Pull</h2>
<div class="card">
${copyable(`docker pull ${pullRef}`)}
${copyable(`podman pull ${pullRef}`)}
${copyable(`regctl copy ${pullRef} DEST`)}
</div>
<h2>Manifest</h2>
<div class="card">${facts([
    ['Media type', html`<code>${v.mediaType}</code>`],
    ['Digest', html`<code class="digest">${v.digest}</code>`],
    ['Manifest size', formatSize(v.manifestSize)],
    v.totalSize !== undefined && ['Total size', formatSize(v.totalSize)],
    v.artifactType !== undefined && ['Artifact type', html`<code>${v.artifactType}</code>`],
    ['Tags', v.tags.length ? v.tags.map((t) => html`<a class="chip" href="/ui/image${query({ name: v.name, ref: t })}">${t}</a>`) : html`<span class="muted">untagged</span>`],
    v.subject !== undefined && ['Subject', html`<a class="mono" href="/ui/image${query({ name: v.name, ref: v.subject })}">${v.subject}</a>`],
    v.annotations !== undefined && ['Annotations', kv(Object.entries(v.annotations))],
  ])}</div>
${v.index ? html`<h2>Platforms</h2>
<div class="card"><table>
<thead><tr><th>Platform</th><th class="opt">Digest</th><th class="opt">Media type</th><th class="num">Size</th></tr></thead>
<tbody>${v.index.map(
    (p) => html`<tr><td class="name"><a href="/ui/image${query({ name: v.name, ref: p.digest })}">${p.platform}</a></td><td class="mono opt">${shortDigest(p.digest)}</td><td class="opt"><code>${p.mediaType}</code></td><td class="num">${formatSize(p.size)}</td></tr>`,
  )}</tbody></table></div>` : ''}
${v.config ? html`<h2>Config</h2>
<div class="card">${facts([
    ['Platform', [str(cfg?.os), str(cfg?.architecture), str(cfg?.variant)].filter(Boolean).join('/') || '-'],
    ['Created', str(cfg?.created) ?? '-'],
    ['Config', html`<code>${v.config.descriptor.mediaType}</code> ${formatSize(v.config.descriptor.size)}`],
    strList(inner.Entrypoint) !== undefined && ['Entrypoint', html`<code>${JSON.stringify(strList(inner.Entrypoint))}</code>`],
    strList(inner.Cmd) !== undefined && ['Cmd', html`<code>${JSON.stringify(strList(inner.Cmd))}</code>`],
    str(inner.WorkingDir) && ['Working dir', html`<code>${str(inner.WorkingDir)}</code>`],
    str(inner.User) && ['User', html`<code>${str(inner.User)}</code>`],
    ['Env', strList(inner.Env)?.length ? strList(inner.Env)!.map((e) => html`<div><code>${e}</code></div>`) : html`<span class="muted">none</span>`],
    ['Labels', kv(strMap(inner.Labels))],
    ['Exposed ports', Object.keys((inner.ExposedPorts as object | undefined) ?? {}).map((p) => html`<span class="chip">${p}</span>`)],
  ])}</div>` : ''}
${v.layers ? html`<h2>Layers</h2>
<div class="card"><table>
<thead><tr><th>#</th><th>Digest</th><th class="opt">Media type</th><th class="num">Size</th></tr></thead>
<tbody>${v.layers.map(
    (l, i) => html`<tr><td>${i + 1}</td><td class="mono" title="${l.digest}">${shortDigest(l.digest)}</td><td class="opt"><code>${l.mediaType}</code></td><td class="num">${formatSize(l.size)}</td></tr>`,
  )}</tbody></table></div>` : ''}
${history.length ? html`<h2>History</h2>
<div class="card"><table><thead><tr><th>Created by</th><th class="opt">Created</th></tr></thead><tbody>${history.map(
    (h) => html`<tr><td><code>${str(h.created_by) ?? ''}</code>${h.empty_layer === true ? html` <span class="chip">empty</span>` : ''}</td><td class="opt muted">${str(h.created) ?? ''}</td></tr>`,
  )}</tbody></table></div>` : ''}
<h2>Referrers</h2>
${v.referrers.length === 0 ? html`<p class="muted">No signatures, SBOMs or attestations refer to this manifest.</p>` : v.referrers.map(
    (g) => html`<h3><code>${g.artifactType}</code></h3><div class="card"><table><tbody>${g.items.map(
      (r) => html`<tr><td class="mono"><a class="referrer" href="/ui/image${query({ name: v.name, ref: r.digest })}">${shortDigest(r.digest)}</a></td><td class="num">${formatSize(r.size)}</td></tr>`,
    )}</tbody></table></div>`,
  )}
${v.canDelete ? html`<h2>Delete</h2><p><a class="button danger" href="/ui/delete${query({ name: v.name, ref: v.ref })}">Delete…</a></p>` : ''}`;
  return layout(ctx, `${v.name}${isDigest ? '@' : ':'}${v.ref}`, body);
}
