import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { registryOptions } from './source.js';

/** `regctl manifest put REF FILE`. */
export function registerManifestPut(manifest: Command, ctx: CommandContext): void {
  manifest
    .command('put')
    .summary('store a manifest file under a tag or digest, byte for byte')
    .description(
      `Store FILE (or - for stdin) as the manifest REF, byte for byte: its digest is the file's sha256. The media type is the document's "mediaType", or --media-type. Image manifests and indexes are checked for shape first; the registry checks that the blobs they name exist. Prints the digest.`,
    )
    .argument('<ref>', 'where to store it: REPO:TAG or REPO@DIGEST, e.g. localhost:5000/app:1.0')
    .argument('<file>', 'manifest file, or - for standard input')
    .option('--media-type <type>', "media type (default: the file's mediaType field)")
    .addHelpText(
      'after',
      `
Examples:
  regctl manifest get localhost:5000/app:1.0 > m.json
  regctl manifest put localhost:5000/app:copy m.json
  regctl manifest put --media-type application/vnd.oci.image.manifest.v1+json \\
    localhost:5000/app:1 m.json`,
    )
    .action(async (input: string, file: string, flags: { mediaType?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference, manifestRef, formatReference } = await import('../../ref/reference.js');
      const { isArchiveLocation } = await import('../../content/location.js');
      if (isArchiveLocation(input)) throw new UsageError('manifest put stores into a registry; layouts and archives are written by copy and export');
      const ref = parseReference(input);
      const { rawRepository } = await import('../../wiring/registry-client.js');
      const { putManifest } = await import('../../raw/manifest-put.js');
      const repo = rawRepository(ref.registry, ref.repository, registryOptions(ctx, out));
      const stdin = file === '-' ? (ctx.streams.stdin as NodeJS.ReadableStream as import('node:stream').Readable | undefined) : undefined;
      if (file === '-' && !stdin) throw new UsageError('no standard input to read');
      const result = await putManifest({ repo, ref: manifestRef(ref), input: stdin ?? file, ...(flags.mediaType !== undefined ? { mediaType: flags.mediaType } : {}) });
      if (out.json) out.printJson({ reference: formatReference(ref), ...result });
      else out.line(result.digest);
    });
}
