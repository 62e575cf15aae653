import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { RegistryClient } from '../../src/registry/client.js';
import { PASSWORDS, startSecureServe, writeUsers, type SecureServe } from '../e2e-serve/harness.js';
import { blob, makeImage, makeIndex, makeReferrer, pushImage, pushIndex, type TestImage } from '../helpers/images.js';

/**
 * A registry for the UI tests, as `regctl serve --htpasswd --access` runs it (harness.ts users:
 * anonymous reads public/**, reader reads team/**, deleter may also delete there, admin all):
 *  - public/app: a two-platform index as 1.9.2 with floating 1.9, 1 and latest, older releases,
 *    words, and a signature and an SBOM referring to the index;
 *  - team/app: an image whose every pushed field carries an XSS payload.
 */

export const XSS = `"'><script>window.__xss=1;alert(1)</script><img src=x onerror="window.__xss=1;alert(1)">`;
/** Media types cannot hold < or >, but & and # are legal: an entity that must not survive. */
export const XSS_MEDIA_TYPE = 'application/vnd.x&#x3Cscript&#x3E';

export interface UiFixture {
  serve: SecureServe;
  dir: string;
  index: { digest: string; children: Array<{ digest: string; platform: string }> };
  signature: string;
  xssDigest: string;
  close(): Promise<void>;
}

function xssImage(): TestImage {
  const layer = blob(randomBytes(300), XSS_MEDIA_TYPE);
  const config = blob(
    Buffer.from(
      JSON.stringify({
        created: '2026-01-02T03:04:05Z',
        architecture: XSS,
        os: 'linux',
        config: {
          Entrypoint: [XSS],
          Cmd: [XSS],
          Env: [`EVIL=${XSS}`],
          Labels: { [XSS]: XSS },
          ExposedPorts: { [`${XSS}/tcp`]: {} },
          WorkingDir: XSS,
          User: XSS,
        },
        rootfs: { type: 'layers', diff_ids: [digestOf(layer.bytes)] },
        history: [{ created_by: XSS, created: XSS }],
      }),
    ),
    MediaType.ociConfig,
  );
  const body = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: config.desc,
    layers: [layer.desc],
    annotations: { [XSS]: XSS, 'org.opencontainers.image.title': XSS },
  };
  const bytes = Buffer.from(JSON.stringify(body));
  return { manifest: { bytes, mediaType: MediaType.ociManifest, digest: digestOf(bytes) }, config, layers: [layer], platform: { os: 'linux', architecture: 'amd64' } };
}

export async function startUiFixture(): Promise<UiFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'regctl-ui-'));
  const files = await writeUsers(dir);
  const serve = await startSecureServe({ ...files });
  const admin = new RegistryClient({ credentials: async () => ({ username: 'admin', password: PASSWORDS.admin }) });
  const app = admin.repository(serve.registry, 'public/app');
  const idx = makeIndex([
    makeImage({ layers: [2048, 1024], platform: { os: 'linux', architecture: 'amd64' } }),
    makeImage({ layers: [2048, 1024], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
  ]);
  await pushIndex(app, idx, '1.9.2');
  for (const t of ['1.9', '1', 'latest']) await app.putManifest(t, idx.manifest);
  const older = makeImage({ layers: [512] });
  await pushImage(app, older, '1.9.1');
  await pushImage(app, makeImage({ layers: [256] }), '1.8.0');
  await app.putManifest('1.8', (await app.getManifest('1.8.0')));
  await pushImage(app, makeImage({ layers: [128] }), 'dev');
  const sig = makeReferrer(idx.manifest, 'application/vnd.dev.cosign.signature.v1+json');
  await pushImage(app, sig);
  await pushImage(app, makeReferrer(idx.manifest, 'application/spdx+json'));
  await pushImage(admin.repository(serve.registry, 'public/tools'), makeImage({ layers: [64] }), 'v1');
  const evil = xssImage();
  await pushImage(admin.repository(serve.registry, 'team/app'), evil, 'v1.0.0');
  await pushImage(admin.repository(serve.registry, 'team/app'), makeReferrer(evil.manifest, XSS_MEDIA_TYPE));
  return {
    serve,
    dir,
    index: { digest: idx.manifest.digest, children: idx.images.map((i) => ({ digest: i.manifest.digest, platform: [i.platform.os, i.platform.architecture, i.platform.variant].filter(Boolean).join('/') })) },
    signature: sig.manifest.digest,
    xssDigest: evil.manifest.digest,
    async close() {
      await serve.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
