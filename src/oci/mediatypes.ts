/** Media types regctl understands, OCI and Docker. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What a client sends in Accept for manifests: every type we can handle. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
].join(', ');

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.ociIndex || mt === MediaType.dockerManifestList;
}

export function isImageManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return isIndexMediaType(mt) || isImageManifestMediaType(mt);
}

export function isSchema1MediaType(mt: string | undefined): boolean {
  return mt === MediaType.dockerSchema1 || mt === MediaType.dockerSchema1Signed || mt === 'application/json';
}

/**
 * RFC 6838 section 4.2 media type syntax: `type/subtype`, each a restricted-name (a letter or
 * digit, then up to 126 of letters, digits and ! # $ & - ^ _ . +). No parameters, no spaces,
 * nothing outside ASCII: such a value could never go into a Content-Type header safely.
 */
const RESTRICTED_NAME = '[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}';
const MEDIA_TYPE = new RegExp(`^${RESTRICTED_NAME}/${RESTRICTED_NAME}$`);

export function isValidMediaType(mt: unknown): mt is string {
  return typeof mt === 'string' && MEDIA_TYPE.test(mt);
}
