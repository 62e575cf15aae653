import { shortDigest } from '../format.js';
import { html, query, type Html } from '../html.js';
import { layout, type PageContext } from '../layout.js';

export interface DeleteView {
  name: string;
  /** Set when the page was asked for a tag. */
  tag?: string;
  digest: string;
  /** Every tag that points at the digest (all go with the manifest). */
  tags: string[];
}

export function deletePage(ctx: PageContext, v: DeleteView): Html {
  const back = `/ui/image${query({ name: v.name, ref: v.tag ?? v.digest })}`;
  const body = html`<div class="crumbs"><a href="/ui/">Repositories</a> / <a href="/ui/repo${query({ name: v.name })}">${v.name}</a> /</div>
<h1>Delete from ${v.name}</h1>
${v.tag !== undefined ? html`<div class="card" style="padding:1rem;margin-bottom:1rem">
<p>Remove only the tag <strong class="tag">${v.tag}</strong>. The manifest <code>${shortDigest(v.digest)}</code> stays, reachable by digest${v.tags.length > 1 ? ' and its other tags' : ''}.</p>
<form method="post" action="/ui/delete">
<input type="hidden" name="csrf" value="${ctx.csrf}"><input type="hidden" name="name" value="${v.name}">
<input type="hidden" name="tag" value="${v.tag}"><input type="hidden" name="digest" value="${v.digest}">
<button type="submit" class="danger" name="what" value="tag">Delete tag ${v.tag}</button>
</form></div>` : ''}
<div class="card" style="padding:1rem">
<p>Delete the manifest <code>${v.digest}</code>${v.tags.length ? html` and with it <strong>${v.tags.length === 1 ? 'this tag' : `these ${v.tags.length} tags`}</strong>:` : ' (it has no tags).'}</p>
${v.tags.length ? html`<ul class="gone">${v.tags.map((t) => html`<li><code>${t}</code></li>`)}</ul>` : ''}
<form method="post" action="/ui/delete">
<input type="hidden" name="csrf" value="${ctx.csrf}"><input type="hidden" name="name" value="${v.name}">
<input type="hidden" name="digest" value="${v.digest}">
<button type="submit" class="danger solid" name="what" value="manifest">Delete manifest${v.tags.length ? ` and ${v.tags.length} tag${v.tags.length === 1 ? '' : 's'}` : ''}</button>
<a class="button" href="${back}">Cancel</a>
</form></div>`;
  return layout(ctx, `Delete from ${v.name}`, body);
}

export function signInPage(ctx: PageContext, next: string, error?: string): Html {
  const body = html`<div class="card signin">
<h1>Sign in</h1>
${error ? html`<p class="notice error" role="alert">${error}</p>` : ''}
<form method="post" action="/ui/signin">
<input type="hidden" name="csrf" value="${ctx.csrf}"><input type="hidden" name="next" value="${next}">
<label for="username">User</label><input type="text" id="username" name="username" autocomplete="username" required maxlength="255" autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required maxlength="1024">
<button type="submit" class="primary">Sign in</button>
</form></div>`;
  return layout(ctx, 'Sign in', body);
}

export function messagePage(ctx: PageContext, title: string, message: string): Html {
  return layout(ctx, title, html`<h1>${title}</h1><p class="notice">${message}</p><p><a href="/ui/">All repositories</a></p>`);
}
