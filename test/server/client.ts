import nodeHttp from 'node:http';
import { request } from 'undici';
import { digestOf } from '../../src/oci/digest.js';

/** A tiny raw HTTP client for spec tests: every status and header is visible. */
export interface Res {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  json(): any;
}

export async function http(
  base: string,
  method: string,
  path: string,
  options: { body?: Buffer | string; headers?: Record<string, string> } = {},
): Promise<Res> {
  const r = await request(base + path, {
    method: method as 'GET',
    body: options.body,
    headers: options.headers,
  });
  const body = Buffer.from(await r.body.arrayBuffer());
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return { status: r.statusCode, headers, body, json: () => JSON.parse(body.toString('utf8')) };
}

/** Push a blob in one POST ?digest= request. */
export async function pushBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  const r = await http(base, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    body: data,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (r.status !== 201) throw new Error(`push blob: ${r.status} ${r.body.toString()}`);
  return digest;
}

export async function pushManifest(base: string, repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<Res> {
  return http(base, 'PUT', `/v2/${repo}/manifests/${ref}`, { body: bytes, headers: { 'content-type': mediaType } });
}

/** GET with the path sent byte for byte (no URL normalisation, unlike fetch/undici). */
export function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}
