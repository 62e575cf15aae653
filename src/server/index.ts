/**
 * The registry server as a library:
 *
 *   const reg = await createRegistryServer({ root: '/srv/registry', guard }); // or { storage }; no root: memory
 *   const { url } = await reg.listen(5000, '127.0.0.1');
 *   ...
 *   await reg.close(); // in-flight requests finish first
 *
 * `guard` is the front door (auth, limits, health, metrics; http/guard.ts); without one the
 * server refuses to start unless `open: true` asks for anonymous access explicitly.
 * `reg.handler` mounts in another node:http server; `createServer` swaps in node:https for TLS.
 */
export { createRegistryServer, type RegistryServer, type RegistryServerOptions } from './server.js';
export { FilesystemStorage } from './storage/fs.js';
export { MemoryStorage } from './storage/memory.js';
export type { RegistryStorage, BlobInfo, UploadInfo, StoredManifest, ManifestRecord, ByteRange } from './storage/types.js';
export { formatAccessLog, type AccessLogEntry, type AccessLogFormat } from './http/access-log-entry.js';
export { OciError } from './protocol/errors.js';
