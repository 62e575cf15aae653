import type { Command } from 'commander';
import type { ImageSource } from '../../content/types.js';
import type { Descriptor, ImageManifest } from '../../oci/manifest.js';
import type { CommandContext } from '../context.js';
import { formatBytes } from '../format.js';
import { selectPlatform } from './manifest.js';
import { openReadSource } from './source.js';

/** What `inspect --json` prints (documented in docs/json.md). */
export interface InspectResult {
  reference: string;
  digest: string;
  mediaType: string;
  size: number;
  kind: 'index' | 'image';
  manifests?: { digest: string; mediaType: string; size: number; platform: string; artifactType?: string }[];
  config?: {
    digest: string;
    created?: string;
    platform: string;
    entrypoint?: string[];
    cmd?: string[];
    labels: Record<string, string>;
  };
  layers?: { digest: string; mediaType: string; size: number }[];
  totalSize?: number;
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
}

/** The --json result for `ref` in `repo` (a registry repository, layout or archive). */
async function describe(
  repo: ImageSource,
  ref: string,
  reference: string,
  platform: string | undefined,
): Promise<InspectResult> {
  const { parseManifest, isIndex } = await import('../../oci/manifest.js');
  const { formatPlatform } = await import('../../oci/platform.js');
  const data = await selectPlatform(repo, ref, await repo.getManifest(ref), platform);
  const m = parseManifest(data.bytes, data.mediaType);
  const result: InspectResult = {
    reference,
    digest: data.digest,
    mediaType: data.mediaType,
    size: data.bytes.length,
    kind: isIndex(m) ? 'index' : 'image',
  };
  if (isIndex(m)) {
    result.manifests = m.manifests.map((d) => ({
      digest: d.digest,
      mediaType: d.mediaType,
      size: d.size,
      platform: formatPlatform(d.platform),
      ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    }));
  } else {
    const img = m as ImageManifest;
    const { readConfigJson } = await import('../../content/platform.js');
    const cfg = await readConfigJson(repo, img.config);
    const inner = (typeof cfg.config === 'object' && cfg.config !== null ? cfg.config : {}) as Record<string, unknown>;
    const labels = (typeof inner.Labels === 'object' && inner.Labels !== null ? inner.Labels : {}) as Record<string, string>;
    result.config = {
      digest: img.config.digest,
      ...(typeof cfg.created === 'string' ? { created: cfg.created } : {}),
      platform: formatPlatform({
        os: typeof cfg.os === 'string' ? cfg.os : 'unknown',
        architecture: typeof cfg.architecture === 'string' ? cfg.architecture : 'unknown',
        ...(typeof cfg.variant === 'string' ? { variant: cfg.variant } : {}),
      }),
      ...(strings(inner.Entrypoint) ? { entrypoint: strings(inner.Entrypoint) } : {}),
      ...(strings(inner.Cmd) ? { cmd: strings(inner.Cmd) } : {}),
      labels,
    };
    result.layers = img.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
    result.totalSize = data.bytes.length + img.config.size + img.layers.reduce((a, l) => a + l.size, 0);
  }
  return result;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('inspect')
    .summary('show media type, digest, size, platforms or config and layers of an image')
    .description(
      `Describe a manifest: media type, digest and size. For an index, its platforms with their digests; for an image, the config summary (created, os/arch, entrypoint, cmd, labels) and the layers with sizes. --platform inspects one image of an index.`,
    )
    .argument('<ref>', 'image reference, e.g. localhost:5000/app:1.0, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]')
    .option('--platform <os/arch[/variant]>', 'from an index, inspect the image for this platform')
    .addHelpText(
      'after',
      `
Examples:
  regctl inspect localhost:5000/app:1.0
  regctl inspect localhost:5000/app:1.0 --platform linux/arm64
  regctl inspect localhost:5000/app@sha256:... --json | jq .layers
  regctl inspect oci:./layout:1.0
  regctl inspect docker-archive:app.tar
      (layers as stored: uncompressed, digest = diff_id)`,
    )
    .action(async (input: string, flags: { platform?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      if (flags.platform !== undefined) (await import('../../oci/platform.js')).parsePlatform(flags.platform);
      const opened = await openReadSource(ctx, out, input);
      let result: InspectResult;
      try {
        result = await describe(opened.source, opened.ref, opened.reference, flags.platform);
      } finally {
        await opened.close();
      }
      if (out.json) {
        out.printJson(result);
        return;
      }
      const c = await out.colors();
      const field = (k: string, v: string): void => out.line(`${c.bold(`${k}:`.padEnd(12))}${v}`);
      field('Reference', result.reference);
      field('Digest', result.digest);
      field('Media type', result.mediaType);
      field('Size', formatBytes(result.size));
      if (result.manifests) {
        out.line(c.bold('Platforms:'));
        await out.table(
          ['PLATFORM', 'DIGEST', 'SIZE'],
          result.manifests.map((d) => [d.platform, d.digest, formatBytes(d.size)]),
        );
      }
      if (result.config) {
        if (result.config.created) field('Created', result.config.created);
        field('Platform', result.config.platform);
        if (result.config.entrypoint) field('Entrypoint', JSON.stringify(result.config.entrypoint));
        if (result.config.cmd) field('Cmd', JSON.stringify(result.config.cmd));
        const labels = Object.entries(result.config.labels);
        if (labels.length) {
          out.line(c.bold('Labels:'));
          for (const [k, v] of labels.sort(([a], [b]) => (a < b ? -1 : 1))) out.line(`  ${k}=${v}`);
        }
        out.line(c.bold('Layers:'));
        await out.table(['DIGEST', 'SIZE', 'MEDIA TYPE'], result.layers!.map((l) => [l.digest, formatBytes(l.size), l.mediaType]));
        field('Total size', formatBytes(result.totalSize!));
      }
    });
}
