import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestIndex } from '../helpers/images.js';

/** Write a test index (every blob, child manifests, the index) as an OCI image layout tagged `tag`. */
export async function writeOciLayout(dir: string, index: TestIndex, tag: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (digest: string, bytes: Buffer) => writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  for (const img of index.images) {
    for (const b of [img.config, ...img.layers]) await put(b.desc.digest, b.bytes);
    await put(img.manifest.digest, img.manifest.bytes);
  }
  await put(index.manifest.digest, index.manifest.bytes);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: index.manifest.mediaType,
          digest: index.manifest.digest,
          size: index.manifest.bytes.length,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
}
