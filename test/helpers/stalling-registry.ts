import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RealImage } from '../archive/fixtures.js';

export interface StallingRegistry {
  /** host:port on 127.0.0.1 */
  host: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * A registry that serves IMAGE as `*:1.0` (manifest and config as usual) and then, for its first
 * layer, sends half the bytes and nothing more: a real registry cannot be made to stall mid-blob
 * on cue, and an interrupted transfer needs one. `onStall` runs once the half has been written.
 */
export async function startStallingRegistry(img: RealImage, onStall: () => void): Promise<StallingRegistry> {
  const layer = img.layers[0]!;
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    if (path === '/v2/') return void res.writeHead(200, { 'content-length': 2 }).end('{}');
    if (path.endsWith('/manifests/1.0')) {
      res.writeHead(200, { 'content-type': img.manifest.mediaType, 'content-length': img.manifest.bytes.length, 'docker-content-digest': img.manifest.digest });
      return void res.end(req.method === 'HEAD' ? undefined : img.manifest.bytes);
    }
    if (path.endsWith(`/blobs/${img.config.desc.digest}`)) return void res.writeHead(200, { 'content-length': img.config.bytes.length }).end(img.config.bytes);
    if (path.endsWith(`/blobs/${layer.desc.digest}`)) {
      res.writeHead(200, { 'content-length': layer.bytes.length });
      res.write(layer.bytes.subarray(0, layer.bytes.length >> 1), () => onStall());
      return; // ...and the rest never comes
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND","message":"no"}]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
