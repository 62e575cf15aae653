import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient } from '../../src/registry/client.js';
import { removeUser } from '../../src/server/security/htpasswd.js';
import { SCRIPT, STYLE } from '../../src/server/ui/assets.js';
import { basic, PASSWORDS, startSecureServe, writeUsers } from '../e2e-serve/harness.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { startUiFixture, XSS, XSS_MEDIA_TYPE, type UiFixture } from './fixture.js';

/**
 * The web UI over HTTP: what each identity sees (the access rules decide, never the UI), every
 * pushed field escaped, security headers, CSRF and Origin checks, sign-in sessions, delete.
 */

let f: UiFixture;
beforeAll(async () => {
  f = await startUiFixture();
}, 60_000);
afterAll(async () => {
  await f?.close();
});

type Who = 'anonymous' | keyof typeof PASSWORDS;
async function get(path: string, who: Who = 'anonymous', headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${f.serve.url}${path}`, {
    redirect: 'manual',
    headers: { accept: 'text/html', ...(who === 'anonymous' ? {} : { authorization: basic(who, PASSWORDS[who]) }), ...headers },
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

const repoLinks = (body: string) => [...body.matchAll(/href="\/ui\/repo\?name=([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));

describe('who sees what', () => {
  it('anonymous: public/** only, a sign-in link, no delete buttons', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    expect(repoLinks(r.body)).toEqual(['public/app', 'public/tools']);
    expect(r.body).toContain('href="/ui/signin?next=%2F"');
    const repo = await get('/ui/repo?name=public%2Fapp');
    expect(repo.body).not.toContain('/ui/delete');
    expect((await get('/ui/repo?name=team%2Fapp')).status).toBe(404);
    expect((await get(`/ui/image?name=team%2Fapp&ref=v1.0.0`)).status).toBe(404);
    expect((await get('/ui/delete?name=public%2Fapp&ref=dev')).status).toBe(403);
  });

  it('reader: also team/**, still no delete', async () => {
    expect(repoLinks((await get('/ui/', 'reader')).body)).toEqual(['public/app', 'public/tools', 'team/app']);
    const repo = await get('/ui/repo?name=team%2Fapp', 'reader');
    expect(repo.status).toBe(200);
    expect(repo.body).not.toContain('/ui/delete');
  });

  it('deleter: delete buttons on team/** only; admin everywhere', async () => {
    expect((await get('/ui/repo?name=team%2Fapp', 'deleter')).body).toContain('href="/ui/delete?name=team%2Fapp&amp;ref=v1.0.0"');
    expect((await get('/ui/repo?name=public%2Fapp', 'deleter')).body).not.toContain('/ui/delete');
    expect((await get('/ui/repo?name=public%2Fapp', 'admin')).body).toContain('/ui/delete?name=public%2Fapp');
  });

  it('search box: substring, prefix first', async () => {
    expect(repoLinks((await get('/ui/?q=APP', 'admin')).body)).toEqual(['public/app', 'team/app']);
    expect(repoLinks((await get('/ui/?q=tool')).body)).toEqual(['public/tools']);
  });

  it('API clients are unaffected: / without text/html stays the API 404, /v2/ is JSON', async () => {
    const api = await fetch(`${f.serve.url}/`);
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toBe('application/json');
    await api.arrayBuffer();
    const v2 = await get('/v2/', 'admin');
    expect(v2.status).toBe(200);
    expect(v2.body).toBe('{}');
  });
});

describe('pages', () => {
  it('repository: release lines with floating aliases, other tags apart', async () => {
    const r = await get('/ui/repo?name=public%2Fapp');
    const text = r.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(text).toContain('Release line 1.9 1.9.2 1 1.9 latest');
    expect(text.indexOf('1.9.2')).toBeLessThan(text.indexOf('1.9.1'));
    expect(text.indexOf('1.9.1')).toBeLessThan(text.indexOf('Release line 1.8'));
    expect(text).toContain('Release line 1.8 1.8.0 1.8');
    expect(text).toContain('Other tags dev');
    expect(r.body).toContain('linux/amd64');
    expect(r.body).toContain('linux/arm64/v8');
    expect((await get('/ui/repo?name=public%2Fapp&filter=dev')).body.replace(/<[^>]+>/g, ' ')).not.toContain('1.9.2');
  });

  it('image: an index lists its platforms (clickable), referrers by artifactType, pull commands with the Host used', async () => {
    const r = await get('/ui/image?name=public%2Fapp&ref=1.9.2');
    expect(r.status).toBe(200);
    for (const c of f.index.children) expect(r.body).toContain(`href="/ui/image?name=public%2Fapp&amp;ref=${encodeURIComponent(c.digest)}">${c.platform}</a>`);
    expect(r.body).toContain('application/vnd.dev.cosign.signature.v1+json');
    expect(r.body).toContain('application/spdx+json');
    expect(r.body).toContain(`href="/ui/image?name=public%2Fapp&amp;ref=${encodeURIComponent(f.signature)}"`);
    expect(r.body).toContain(`docker pull ${f.serve.registry}/public/app:1.9.2`);
    expect(r.body).toContain(`podman pull ${f.serve.registry}/public/app:1.9.2`);
    expect(r.body).toContain(`regctl copy ${f.serve.registry}/public/app:1.9.2 DEST`);
    const child = await get(`/ui/image?name=public%2Fapp&ref=${encodeURIComponent(f.index.children[1]!.digest)}`);
    expect(child.body).toContain('linux/arm64/v8');
    expect(child.body).toContain('&quot;/bin/app&quot;');
  });
});

describe('safety', () => {
  it('every pushed field is escaped: no payload markup, no live entity', async () => {
    const pages = [
      await get('/ui/', 'admin'),
      await get('/ui/repo?name=team%2Fapp', 'admin'),
      await get('/ui/image?name=team%2Fapp&ref=v1.0.0', 'admin'),
      await get(`/ui/delete?name=team%2Fapp&ref=v1.0.0`, 'admin'),
    ];
    const escaped = XSS.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
    const image = pages[2]!.body;
    // labels, annotations, Env, Cmd, Entrypoint, history, working dir, user, ports, architecture
    expect(image.split(escaped).length - 1).toBeGreaterThanOrEqual(10);
    expect(image).toContain(XSS_MEDIA_TYPE.replace(/&/g, '&amp;'));
    for (const p of pages) {
      expect(p.status).toBe(200);
      expect(p.body).not.toContain('<script>');
      expect(p.body).not.toContain('<img');
      expect(p.body).not.toContain('&#x3C');
      expect(p.body).not.toMatch(/<script(?![^>]*\ssrc="\/ui\/assets\/app\.[0-9a-f]{12}\.js")/);
    }
  });

  it('headers: strict CSP, no framing, nosniff, referrer policy, no caching of pages; assets cached for a year', async () => {
    const r = await get('/ui/');
    expect(r.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(r.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('referrer-policy')).toBe('same-origin');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.body).not.toMatch(/<script>|style="|<style| on[a-z]+="/i);
    for (const a of [STYLE, SCRIPT]) {
      const res = await get(a.path);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toBe(a.contentType);
      expect(res.body).toBe(a.body.toString('utf8'));
    }
  });
});

/** A browser-like client: cookies kept, forms posted with the page's CSRF token. */
class Browser {
  cookies = new Map<string, string>();
  async fetch(path: string, init: { method?: string; form?: Record<string, string>; origin?: string } = {}) {
    const headers: Record<string, string> = { accept: 'text/html' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.origin) headers.origin = init.origin;
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(`${f.serve.url}${path}`, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers,
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const [k, v] = kv!.split('=');
      if (v === '') this.cookies.delete(k!);
      else this.cookies.set(k!, v!);
    }
    return { status: res.status, body: await res.text(), headers: res.headers };
  }
  static csrf(body: string): string {
    const m = /name="csrf" value="([^"]+)"/.exec(body);
    if (!m) throw new Error(`no csrf field in: ${body.slice(0, 2000)}`);
    return m[1]!;
  }
}

describe('sign in, CSRF, delete', () => {
  it('cookies are HttpOnly and SameSite=Strict; a wrong password is refused', async () => {
    const b = new Browser();
    const page = await b.fetch('/ui/signin');
    expect(page.headers.getSetCookie()[0]).toMatch(/^regctl_csrf=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const bad = await b.fetch('/ui/signin', { method: 'POST', form: { csrf: Browser.csrf(page.body), username: 'reader', password: 'wrong', next: '/ui/' } });
    expect(bad.status).toBe(401);
    expect(bad.body).toContain('Invalid user name or password.');
    expect(b.cookies.has('regctl_session')).toBe(false);
  });

  it('signed in as deleter: sees team/**, deletes a tag after a confirmation naming it; CSRF and Origin enforced', async () => {
    const b = new Browser();
    const form = await b.fetch('/ui/signin?next=%2Fui%2Frepo%3Fname%3Dteam%252Fapp');
    const signed = await b.fetch('/ui/signin', { method: 'POST', form: { csrf: Browser.csrf(form.body), username: 'deleter', password: PASSWORDS.deleter, next: '/ui/repo?name=team%2Fapp' } });
    expect(signed.status).toBe(303);
    expect(signed.headers.get('location')).toBe('/ui/repo?name=team%2Fapp');
    expect(signed.headers.getSetCookie()[0]).toMatch(/^regctl_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const repo = await b.fetch('/ui/repo?name=team%2Fapp');
    expect(repo.body).toContain('Signed in as <strong class="user">deleter</strong>');
    // the session cookie is for the UI only: the API ignores it
    expect((await b.fetch('/v2/team/app/tags/list')).status).toBe(401);

    const confirm = await b.fetch('/ui/delete?name=team%2Fapp&ref=v1.0.0');
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('<ul class="gone"><li><code>v1.0.0</code></li></ul>');
    const csrf = Browser.csrf(confirm.body);
    const post = { csrf, name: 'team/app', tag: 'v1.0.0', digest: f.xssDigest, what: 'tag' };
    expect((await b.fetch('/ui/delete', { method: 'POST', form: { ...post, csrf: 'forged' } })).status).toBe(403);
    expect((await b.fetch('/ui/delete', { method: 'POST', form: post, origin: 'http://evil.example' })).status).toBe(403);
    const anon = new Browser();
    const anonPage = await anon.fetch('/ui/signin');
    expect((await anon.fetch('/ui/delete', { method: 'POST', form: { ...post, csrf: Browser.csrf(anonPage.body) } })).status).toBe(404);
    expect((await get('/v2/team/app/tags/list', 'admin')).body).toContain('v1.0.0');

    const done = await b.fetch('/ui/delete', { method: 'POST', form: post, origin: f.serve.url });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/ui/repo?name=team%2Fapp');
    expect(JSON.parse((await get('/v2/team/app/tags/list', 'admin')).body)).toEqual({ name: 'team/app', tags: [] });

    const out = await b.fetch('/ui/signout', { method: 'POST', form: { csrf: Browser.csrf((await b.fetch('/ui/')).body) } });
    expect(out.status).toBe(303);
    expect(repoLinks((await b.fetch('/ui/')).body)).toEqual(['public/app', 'public/tools']);
  });

  it('a reader cannot delete even with a valid token', async () => {
    const b = new Browser();
    const form = await b.fetch('/ui/signin');
    await b.fetch('/ui/signin', { method: 'POST', form: { csrf: Browser.csrf(form.body), username: 'reader', password: PASSWORDS.reader, next: '/ui/' } });
    const page = await b.fetch('/ui/');
    expect(page.body).toContain('Signed in as');
    const r = await b.fetch('/ui/delete', { method: 'POST', form: { csrf: Browser.csrf(page.body), name: 'public/app', tag: 'dev', digest: f.index.digest, what: 'tag' } });
    expect(r.status).toBe(403);
  });

  it('a session of a user removed from the htpasswd file stops working (once the file is re-read)', async () => {
    const b = new Browser();
    const form = await b.fetch('/ui/signin');
    await b.fetch('/ui/signin', { method: 'POST', form: { csrf: Browser.csrf(form.body), username: 'writer', password: PASSWORDS.writer, next: '/ui/' } });
    expect(repoLinks((await b.fetch('/ui/')).body)).toEqual(['public/app', 'public/tools', 'team/app']);
    expect(await removeUser(join(f.dir, 'htpasswd'), 'writer')).toBe(true);
    // any login makes the server re-read a changed file (checked at most once a second)
    await expect.poll(async () => {
      await get('/v2/', 'reader');
      return repoLinks((await b.fetch('/ui/')).body);
    }, { timeout: 20_000, interval: 300 }).toEqual(['public/app', 'public/tools']);
  });

  it('sign-in redirects only to UI pages', async () => {
    const b = new Browser();
    const form = await b.fetch('/ui/signin');
    const r = await b.fetch('/ui/signin', { method: 'POST', form: { csrf: Browser.csrf(form.body), username: 'reader', password: PASSWORDS.reader, next: '//evil.example/' } });
    expect(r.headers.get('location')).toBe('/ui/');
  });
});

describe('--no-ui', () => {
  it('no pages, no sign-in: / and /ui/ are the API 404 for a browser too', async () => {
    const s = await startSecureServe({ ui: false });
    try {
      for (const path of ['/', '/ui/', '/ui/signin', STYLE.path]) {
        const res = await fetch(`${s.url}${path}`, { headers: { accept: 'text/html' } });
        expect(res.status, path).toBe(404);
        expect(res.headers.get('content-type'), path).toBe('application/json');
        expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNSUPPORTED');
      }
    } finally {
      await s.close();
    }
  });
});

describe('push times survive restarts (fs)', () => {
  it('the repository and repositories pages show the same pushed time after a restart on the same root', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regctl-ui-times-'));
    const times = async (url: string) => {
      const page = async (path: string) => (await (await fetch(`${url}${path}`, { headers: { accept: 'text/html' } })).text());
      const stamps = (body: string) => [...body.matchAll(/<time datetime="([^"]*)"/g)].map((m) => m[1]);
      return { repo: stamps(await page('/ui/repo?name=lib%2Fapp')), list: stamps(await page('/ui/')) };
    };
    try {
      const first = await startSecureServe({}, { root });
      const before = Date.now();
      let seen: { repo: Array<string | undefined>; list: Array<string | undefined> };
      try {
        await pushImage(new RegistryClient().repository(first.registry, 'lib/app'), makeImage({ layers: [64] }), 'v1');
        seen = await times(first.url);
      } finally {
        await first.close();
      }
      // The push time, not the image's created time (2026-01-02T03:04:05Z).
      expect(seen.repo).toHaveLength(1);
      const pushed = Date.parse(seen.repo[0]!);
      expect(pushed).toBeGreaterThanOrEqual(before - 2000);
      expect(pushed).toBeLessThanOrEqual(Date.now());
      expect(seen.list).toEqual(seen.repo);
      const second = await startSecureServe({}, { root });
      try {
        expect(await times(second.url)).toEqual(seen);
      } finally {
        await second.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('--mirror: the pull-through cache panel', () => {
  const panel = (body: string) => {
    const m = /<section class="mirror"[^>]*>([\s\S]*?)<\/section>/.exec(body);
    return m ? m[1]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim() : undefined;
  };
  const page = async (url: string, auth?: string) =>
    (await fetch(`${url}/ui/`, { headers: { accept: 'text/html', ...(auth ? { authorization: auth } : {}) } })).text();

  it('no users: everyone may read everything, so everyone sees the counters and the upstreams', async () => {
    const s = await startSecureServe({ mirror: ['docker.io=http://127.0.0.1:9', 'ghcr.io=http://127.0.0.1:9/'], mirrorDefault: 'docker.io' });
    try {
      expect(panel(await page(s.url))).toBe(
        'Pull-through cache Hits 0 Misses 0 From upstream 0 B Stale serves 0 Upstream errors 0 Upstream docker.io (default) http://127.0.0.1:9 Upstream ghcr.io http://127.0.0.1:9',
      );
      // A pull through an upstream that is down counts where the metrics count it.
      const pull = await fetch(`${s.url}/v2/ghcr.io/org/img/manifests/1.0`);
      await pull.arrayBuffer();
      expect(pull.status).toBeGreaterThanOrEqual(400);
      const text = panel(await page(s.url))!;
      const errors = Number(/Upstream errors (\d+)/.exec(text)![1]);
      expect(errors).toBeGreaterThanOrEqual(1);
    } finally {
      await s.close();
    }
  });

  it('users without an access file: signed-in users see it, anonymous callers do not; with an access file nobody does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-ui-mirror-'));
    try {
      const { htpasswd, access } = await writeUsers(dir);
      const s = await startSecureServe({ mirror: ['docker.io=http://127.0.0.1:9'], htpasswd });
      try {
        expect(panel(await page(s.url))).toBeUndefined();
        expect(panel(await page(s.url, basic('reader', PASSWORDS.reader)))).toContain('Upstream docker.io http://127.0.0.1:9');
      } finally {
        await s.close();
      }
      const limited = await startSecureServe({ mirror: ['docker.io=http://127.0.0.1:9'], htpasswd, access });
      try {
        for (const who of ['reader', 'admin'] as const) expect(panel(await page(limited.url, basic(who, PASSWORDS[who]))), who).toBeUndefined();
        expect(await page(limited.url, basic('admin', PASSWORDS.admin))).toContain('<h1>Repositories</h1>');
      } finally {
        await limited.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
