import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { makeImage } from '../helpers/images.js';
import { http } from '../server/client.js';
import { startSecureServe, type SecureServe } from './harness.js';

/**
 * A corpus of malformed requests sent raw over a socket (paths byte for byte, broken headers,
 * bad bodies). Every answer is a 4xx with the OCI error envelope (a HEAD answer has no body),
 * never a 5xx; the server stays up; nothing is created outside the storage root and no
 * repository appears for an invalid name.
 */

let base: string;
let root: string;
let s: SecureServe;
const image = makeImage({ layers: [100] });
const HEX = 'a'.repeat(64);
const GOOD = `sha256:${HEX}`;
const LAYER = image.layers[0]!.desc.digest;
let session = '';

interface Raw {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Send bytes exactly as given and read the whole answer (the request asks to close). */
function raw(request: string | Buffer): Promise<Raw> {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer to ${String(request).slice(0, 80)}`));
    }, 10_000);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n') });
    });
    // Write without half-closing: Node's server aborts a request whose client ended its side
    // (real clients never do); `Connection: close` makes the server close after answering.
    sock.write(request);
  });
}

function req(method: string, path: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}): Buffer {
  const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body);
  const headers = { Host: 'registry', Connection: 'close', 'Content-Length': String(body.length), ...options.headers };
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const NAMES = [
  'a/../../etc',
  '..',
  '../x',
  'a/..',
  'a/.',
  './a',
  '%2e%2e/etc',
  'a/%2e%2e/%2e%2e/etc',
  '%2e%2e%2fetc',
  'a%2f..%2f..%2fetc',
  'a%2Fb',
  'a//b',
  '/a',
  'a\\..\\b',
  'A',
  'a..b',
  'a%00b',
  '_blobs',
  'a/blobs',
  'a/index.json',
  'x'.repeat(300),
];

function corpus(): Array<[label: string, request: Buffer]> {
  const c: Array<[string, Buffer]> = [];
  const add = (label: string, r: Buffer) => c.push([label, r]);
  for (const n of NAMES) {
    add(`tags ${n}`, req('GET', `/v2/${n}/tags/list`));
    add(`manifest ${n}`, req('GET', `/v2/${n}/manifests/latest`));
    add(`put manifest ${n}`, req('PUT', `/v2/${n}/manifests/latest`, { body: image.manifest.bytes, headers: { 'Content-Type': image.manifest.mediaType } }));
    add(`blob ${n}`, req('GET', `/v2/${n}/blobs/${GOOD}`));
    add(`upload ${n}`, req('POST', `/v2/${n}/blobs/uploads/`));
  }
  const digests = [
    'sha256:xyz',
    `sha256:${HEX.slice(1)}`,
    `sha256:${HEX.toUpperCase()}`,
    `md5:${'a'.repeat(32)}`,
    'sha512:abc',
    `SHA256:${HEX}`,
    'sha256:%2e%2e',
    `sha256:${HEX}%00`,
    'sha256-abc',
    ':',
    `sha256:${HEX}:${HEX}`,
  ];
  for (const d of digests) {
    add(`get blob ${d}`, req('GET', `/v2/ok/blobs/${d}`));
    add(`delete blob ${d}`, req('DELETE', `/v2/ok/blobs/${d}`));
    add(`referrers ${d}`, req('GET', `/v2/ok/referrers/${d}`));
    add(`manifest by ${d}`, req('GET', `/v2/ok/manifests/${d}`));
    add(`single upload ${d}`, req('POST', `/v2/ok/blobs/uploads/?digest=${d}`, { body: 'x' }));
    add(`mount ${d}`, req('POST', `/v2/ok/blobs/uploads/?mount=${d}&from=ok`));
  }
  add('traversal in digest path', req('GET', '/v2/ok/blobs/sha256:../../../etc/passwd'));
  for (const id of ['abc', '..', '%2e%2e', 'A'.repeat(32), `${'a'.repeat(31)}/`, `${'a'.repeat(32)}/x`, '%2f'.repeat(4), 'a'.repeat(33)]) {
    add(`upload id ${id}`, req('GET', `/v2/ok/blobs/uploads/${id}`));
    add(`patch upload id ${id}`, req('PATCH', `/v2/ok/blobs/uploads/${id}`, { body: 'abc' }));
  }
  for (const range of ['bytes=abc', '5-2', '0-', '10-20', '0-99999999999999999999', '-1-3']) {
    add(`content-range ${range}`, req('PATCH', `/v2/ok/blobs/uploads/${session}`, { body: 'abc', headers: { 'Content-Range': range } }));
  }
  add('content-range/length mismatch', req('PATCH', `/v2/ok/blobs/uploads/${session}`, { body: 'abc', headers: { 'Content-Range': '0-9' } }));
  add('put upload wrong digest', req('PUT', `/v2/ok/blobs/uploads/${session}?digest=${GOOD}`, { body: 'abc' }));
  add('put upload no digest', req('PUT', `/v2/ok/blobs/uploads/${session}`, { body: 'abc' }));
  add('single upload wrong digest', req('POST', `/v2/ok/blobs/uploads/?digest=${GOOD}`, { body: 'not this' }));
  const manifest = (body: string | Buffer, type = 'application/vnd.oci.image.manifest.v1+json', ref = 'latest') =>
    req('PUT', `/v2/ok/manifests/${ref}`, { body, headers: { 'Content-Type': type } });
  const m = JSON.parse(image.manifest.bytes.toString()) as Record<string, unknown>;
  add('manifest: not JSON', manifest('{not json'));
  add('manifest: empty', manifest(''));
  add('manifest: array', manifest('[]'));
  add('manifest: null', manifest('null'));
  add('manifest: string', manifest('"x"'));
  add('manifest: schema 1 body', manifest(JSON.stringify({ schemaVersion: 1, name: 'ok', tag: 'latest', fsLayers: [] }), 'application/json'));
  add('manifest: schema 1 type', manifest(JSON.stringify({ schemaVersion: 1 }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'));
  add('manifest: schemaVersion 3', manifest(JSON.stringify({ ...m, schemaVersion: 3 })));
  add('manifest: no config', manifest(JSON.stringify({ ...m, config: undefined })));
  add('manifest: layers not a list', manifest(JSON.stringify({ ...m, layers: 'x' })));
  add('manifest: bad layer digest', manifest(JSON.stringify({ ...m, layers: [{ mediaType: 'x', digest: 'sha256:zz', size: 1 }] })));
  add('manifest: traversal digest', manifest(JSON.stringify({ ...m, layers: [{ mediaType: 'x', digest: 'sha256:../../etc/passwd', size: 1 }] })));
  add('manifest: negative size', manifest(JSON.stringify({ ...m, layers: [{ mediaType: 'x', digest: GOOD, size: -1 }] })));
  add('manifest: missing blobs', manifest(JSON.stringify({ ...m, layers: [{ mediaType: 'x', digest: GOOD, size: 1 }] })));
  add('manifest: type mismatch', manifest(image.manifest.bytes, 'application/vnd.oci.image.index.v1+json'));
  add('manifest: wrong digest', manifest(image.manifest.bytes, image.manifest.mediaType, GOOD));
  add('manifest: sha512 ref of sha256 body', manifest(image.manifest.bytes, image.manifest.mediaType, `sha512:${'b'.repeat(128)}`));
  add('manifest: oversized', manifest(Buffer.alloc(70 * 1024, 0x20)));
  add('manifest: declared oversized', req('PUT', '/v2/ok/manifests/big', { headers: { 'Content-Type': 'application/json', 'Content-Length': String(1 << 30) } }));
  add('manifest: index with unknown child', manifest(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: GOOD, size: 10 }] }), 'application/vnd.oci.image.index.v1+json'));
  for (const tag of ['-bad', '.bad', 't'.repeat(129), 'a%2fb', 'a:b', '..']) add(`manifest tag ${tag}`, manifest(image.manifest.bytes, image.manifest.mediaType, tag));
  add('tags n=-1', req('GET', '/v2/ok/tags/list?n=-1'));
  add('tags n=abc', req('GET', '/v2/ok/tags/list?n=abc'));
  add('catalog n=1e3', req('GET', '/v2/_catalog?n=1e3'));
  add('blob range past end', req('GET', `/v2/ok/blobs/${LAYER}`, { headers: { Range: 'bytes=999999-' } }));
  add('blob range reversed', req('GET', `/v2/ok/blobs/${LAYER}`, { headers: { Range: 'bytes=50-10' } }));
  add('unknown endpoint', req('GET', '/v2/ok/nothing'));
  add('outside /v2', req('GET', '/etc/passwd'));
  add('absolute URL traversal', req('GET', 'http://registry/v2/../../etc/passwd'));
  add('method on base', req('POST', '/v2/'));
  add('method on tags', req('DELETE', '/v2/ok/tags/list'));
  add('unknown method', req('FOO', '/v2/ok/tags/list'));
  add('huge URL', req('GET', `/v2/${'a/'.repeat(3000)}tags/list`));
  add('huge header', req('GET', '/v2/', { headers: { 'X-Big': 'x'.repeat(20_000) } }));
  add('many headers', req('GET', '/v2/', { headers: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`X-H${i}`, 'v'])) }));
  add('malformed request line', Buffer.from('GARBAGE\r\n\r\n'));
  add('space in path', Buffer.from('GET /v2/a b/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  add('bad header line', Buffer.from('GET /v2/ HTTP/1.1\r\nHost x\r\nConnection: close\r\n\r\n'));
  add('bad content-length', Buffer.from('PUT /v2/ok/manifests/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n'));
  add('both content-length and chunked', Buffer.from('PUT /v2/ok/manifests/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n'));
  add('bad chunk', Buffer.from('PATCH /v2/ok/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'));
  add('HTTP/0.9 traversal', Buffer.from('GET /v2/../../etc/passwd\r\n\r\n'));
  add('NUL in path', Buffer.from('GET /v2/a\0b/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1'));
  return c;
}

async function listTree(dir: string, skip: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (p === skip) continue;
      out.push(relative(base, p));
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(base);
  return out.sort();
}

beforeAll(async () => {
  // The root sits three levels down so traversal attempts land inside the snapshotted tree.
  base = await mkdtemp(join(tmpdir(), 'regctl-badinput-'));
  root = join(base, 'x', 'y', 'root');
  await mkdir(join(base, 'x', 'y', 'etc'), { recursive: true });
  s = await startSecureServe({ maxManifestBytes: 64 * 1024, maxHeaderBytes: 8 * 1024, maxUrlLength: 2048 }, { root });
  for (const b of [image.config, ...image.layers]) {
    expect((await http(s.url, 'POST', `/v2/ok/blobs/uploads/?digest=${b.desc.digest}`, { body: b.bytes })).status).toBe(201);
  }
  expect((await http(s.url, 'PUT', '/v2/ok/manifests/v1', { body: image.manifest.bytes, headers: { 'content-type': image.manifest.mediaType } })).status).toBe(201);
  const r = await http(s.url, 'POST', '/v2/ok/blobs/uploads/');
  session = r.headers.location!.split('/').pop()!;
});

afterAll(async () => {
  await s?.close();
  await rm(base, { recursive: true, force: true });
});

describe('bad-input corpus', () => {
  it('every malformed request gets a 4xx with the OCI error envelope; nothing escapes the root', async () => {
    const before = await listTree(base, root);
    const cases = corpus();
    expect(cases.length).toBeGreaterThanOrEqual(100);
    const failures: string[] = [];
    for (const [label, request] of cases) {
      const r = await raw(request);
      const method = request.toString('latin1').split(' ')[0];
      if (r.status < 400 || r.status > 499) {
        failures.push(`${label}: status ${r.status} ${r.body.slice(0, 120)}`);
        continue;
      }
      if (method === 'HEAD') continue;
      let code: unknown;
      try {
        code = (JSON.parse(r.body) as { errors: Array<{ code: unknown; message: unknown }> }).errors[0]!.code;
      } catch {
        failures.push(`${label}: ${r.status} without the error envelope: ${JSON.stringify(r.body.slice(0, 120))}`);
        continue;
      }
      if (typeof code !== 'string' || !/^[A-Z_]+$/.test(code)) failures.push(`${label}: odd code ${String(code)}`);
    }
    expect(failures).toEqual([]);

    // Still up and serving, nothing outside the root, no repository for a bad name.
    expect((await http(s.url, 'GET', '/v2/')).status).toBe(200);
    expect((await http(s.url, 'GET', '/v2/ok/manifests/v1')).body.equals(image.manifest.bytes)).toBe(true);
    expect(await listTree(base, root)).toEqual(before);
    expect((await http(s.url, 'GET', '/v2/_catalog')).json().repositories).toEqual(['ok']);
    const top = (await readdir(root)).sort();
    expect(top).toEqual(['_blobs', '_tmp', '_uploads', 'ok']);
    expect(digestOf((await http(s.url, 'GET', `/v2/ok/blobs/${LAYER}`)).body)).toBe(LAYER);
  }, 60_000);

  it('no response in the corpus was a 5xx in the metrics either', async () => {
    const text = (await http(s.url, 'GET', '/metrics')).body.toString();
    const fivexx = text.split('\n').filter((l) => /^regctl_registry_http_requests_total\{.*status="5\d\d"/.test(l));
    expect(fivexx).toEqual([]);
    expect(text).toMatch(/regctl_registry_http_requests_total\{method="GET",route="tags",status="400"\} \d+/);
  });
});
