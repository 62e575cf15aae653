/**
 * The registry server as a library:
 *
 *   const reg = await createRegistryServer({ root: '/srv/registry' }); // or { storage }, or {} (memory)
 *   const { url } = await reg.listen(5000, '127.0.0.1');
 *   ...
 *   await reg.close(); // in-flight requests finish first
 *
 * `reg.handler` mounts in another node:http server; `before` runs a front door (auth, health,
 * metrics) ahead of the registry; `createServer` swaps in node:https for TLS.
 */
export { createRegistryServer, type RegistryServer, type RegistryServerOptions } from './server.js';
export { FilesystemStorage } from './storage/fs.js';
export { MemoryStorage } from './storage/memory.js';
export type { RegistryStorage, BlobInfo, UploadInfo, StoredManifest, ManifestRecord, ByteRange } from './storage/types.js';
export { formatAccessLog, type AccessLogEntry, type AccessLogFormat } from './access-log.js';
export { OciError } from './errors.js';
