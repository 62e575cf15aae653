import { SCRIPT, STYLE } from './assets.js';
import { html, query, type Html, type Part } from './html.js';

/** What every page template knows about the request. */
export interface PageContext {
  /** Signed-in user (session or Basic), if any. */
  user?: string;
  /** Whether the registry has users (a sign-in link makes sense). */
  signIn: boolean;
  /** The form token for this browser. */
  csrf: string;
  /** host[:port] the browser used, for pull commands. */
  host: string;
  /** The current path and query, to come back to after signing in. */
  here: string;
  /** Search box value. */
  q?: string;
}

export function layout(ctx: PageContext, title: string, body: Part): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${title} · regctl registry</title>
<link rel="stylesheet" href="${STYLE.path}">
<script src="${SCRIPT.path}" defer></script>
</head>
<body>
<header class="top">
<a class="brand" href="/ui/"><span class="logo" aria-hidden="true"></span>regctl registry</a>
<form method="get" action="/ui/" role="search">
<input type="search" name="q" value="${ctx.q ?? ''}" placeholder="Search repositories  ( / )" aria-label="Search repositories" maxlength="255">
</form>
<div class="who">${whoAmI(ctx)}</div>
</header>
<main id="main">
${body}
</main>
<footer>OCI distribution registry · <a href="/v2/">API /v2/</a></footer>
</body>
</html>
`;
}

function whoAmI(ctx: PageContext): Part {
  if (ctx.user !== undefined) {
    return html`<span>Signed in as <strong class="user">${ctx.user}</strong></span>${
      ctx.signIn
        ? html`<form class="inline" method="post" action="/ui/signout"><input type="hidden" name="csrf" value="${ctx.csrf}"><button type="submit">Sign out</button></form>`
        : ''
    }`;
  }
  return ctx.signIn ? html`<span>Anonymous</span> <a class="button" href="/ui/signin${query({ next: ctx.here })}">Sign in</a>` : '';
}

export function pager(base: string, params: Record<string, string | undefined>, page: number, pages: number, total: number, noun: string): Html {
  if (pages <= 1) return html`<div class="pager">${total} ${noun}</div>`;
  const link = (p: number) => `${base}${query({ ...params, page: p > 1 ? p : undefined })}`;
  return html`<nav class="pager" aria-label="Pages">
${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">← Previous</a>` : ''}
<span>Page ${page} of ${pages} · ${total} ${noun}</span>
${page < pages ? html`<a href="${link(page + 1)}" rel="next">Next →</a>` : ''}
</nav>`;
}

export function copyable(text: string): Html {
  return html`<div class="pull"><code>${text}</code><button type="button" class="copy" data-copy="${text}" hidden>Copy</button></div>`;
}
