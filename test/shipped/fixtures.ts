import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Runtime, Shipped } from './install.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A small OCI image layout (one config, one 1 KiB layer) tagged `1`; returns the manifest digest. */
export function writeLayout(dir: string): string {
  const put = (b: Buffer): string => {
    const d = sha(b);
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layer = Buffer.alloc(1024, 7);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: put(layer), size: layer.length }],
  }));
  const digest = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': '1' } }],
  }));
  return digest;
}

export interface RunningServe {
  /** host:port */
  host: string;
  child: ChildProcess;
  /** everything it printed so far */
  output: () => string;
  stop: () => Promise<number | null>;
}

/** The installed `regctl serve ARGS --port 0` as a child process; resolves once it listens. */
export function startInstalledServe(s: Shipped, runtime: Runtime, args: string[], env: NodeJS.ProcessEnv): Promise<RunningServe> {
  const child = spawn('regctl', ['serve', '--port', '0', '--address', '127.0.0.1', ...args], {
    env: { PATH: runtime.path, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${text}`)), 30_000);
    const check = (): void => {
      const m = /listening on https?:\/\/([\d.]+:\d+)/.exec(text);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve({
        host: m[1]!,
        child,
        output: () => text,
        stop: async () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
  });
}
