/**
 * Typed HTML templates that escape by default. `html\`<p>${x}</p>\`` escapes every interpolated
 * value unless it is itself an `Html` (built by this tag, or `trusted()` for constant markup), so
 * a string a client pushed (repository name, tag, label, annotation, media type) can only ever
 * become text. Arrays are joined; undefined, null and false render nothing.
 */

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type Part = Html | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(p: Part): string {
  if (p instanceof Html) return p.value;
  if (p === undefined || p === null || p === false) return '';
  if (Array.isArray(p)) return (p as readonly Part[]).map(render).join('');
  return escapeHtml(String(p));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup the caller vouches for (constants in this folder only; never client data). */
export function trusted(markup: string): Html {
  return new Html(markup);
}

/** A query string from parts (values URI-encoded); empty values are left out. */
export function query(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
