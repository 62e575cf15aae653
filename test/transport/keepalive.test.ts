import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { scripted, type Scripted } from './scripted.js';

let reg: Scripted | undefined;
afterEach(async () => {
  await reg?.close();
  reg = undefined;
});

describe('connection reuse', () => {
  it('HEAD requests keep the connection open (copy and retag make hundreds of them)', async () => {
    reg = await scripted((_req, res) => {
      res.writeHead(200, { 'content-length': '7', 'docker-content-digest': `sha256:${'1'.repeat(64)}` });
      res.end();
    });
    let connections = 0;
    reg.server.on('connection', () => connections++);
    const repo = new RegistryClient().repository(reg.registry, 'keep/alive');
    for (let i = 0; i < 20; i++) {
      expect(await repo.headBlob(`sha256:${i.toString(16).padStart(64, '0')}`)).toEqual({ size: 7 });
    }
    expect(reg.seen.filter((s) => s.method === 'HEAD')).toHaveLength(20);
    expect(reg.seen.map((s) => s.method).filter((m) => m !== "HEAD")).toEqual([]);
    // undici may open a second socket while the first is being set up; without reset:false it is one per HEAD.
    expect(connections).toBeLessThanOrEqual(2);
  });
});
