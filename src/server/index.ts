/** The registry server as a library. */
export { createRegistryServer, type RegistryServer, type RegistryServerOptions } from './server.js';
export { FilesystemStorage } from './storage/fs.js';
export { MemoryStorage } from './storage/memory.js';
export type { RegistryStorage, BlobInfo, UploadInfo, StoredManifest, ManifestRecord, ByteRange } from './storage/types.js';
export { formatAccessLog, type AccessLogEntry, type AccessLogFormat } from './access-log.js';
export { OciError } from './errors.js';
