import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { ImageSource } from '../../content/types.js';
import type { ManifestData } from '../../oci/manifest.js';
import type { CommandContext } from '../context.js';
import { registerManifestPut } from './manifest-put.js';
import { openReadSource } from './source.js';

/**
 * With --platform: an index's child for it, or the image itself when it is that platform
 * (content/platform.ts decides, as for copy); an error naming what there is otherwise.
 */
export async function selectPlatform(repo: ImageSource, ref: string, data: ManifestData, platform: string | undefined): Promise<ManifestData> {
  if (platform === undefined) return data;
  const { parsePlatform } = await import('../../oci/platform.js');
  const { choosePlatform, describeRef } = await import('../../content/platform.js');
  const chosen = await choosePlatform(repo, describeRef(repo.description, ref), data, parsePlatform(platform));
  return chosen.data ?? repo.getManifest(chosen.digest);
}

const REF_HELP = 'image reference, e.g. localhost:5000/app:1.0 or ...@sha256:..., oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]';
const DESCRIPTION = `Print the manifest bytes exactly as served (byte for byte: pipe to sha256sum to check the digest). --platform picks one image out of an index. --json wraps the manifest with its digest and media type.`;

export function register(program: Command, ctx: CommandContext): void {
  const action = async (input: string, _flags: object, cmd: Command): Promise<void> => {
    const out = ctx.output(cmd);
    // `manifest get REF --platform P`: commander hands the option to `manifest`, which defines it too.
    const flags = cmd.optsWithGlobals() as { platform?: string };
    if (flags.platform !== undefined) {
      const { parsePlatform } = await import('../../oci/platform.js');
      parsePlatform(flags.platform);
    }
    const opened = await openReadSource(ctx, out, input);
    let data: ManifestData;
    try {
      data = await selectPlatform(opened.source, opened.ref, await opened.source.getManifest(opened.ref), flags.platform);
    } finally {
      await opened.close();
    }
    if (out.json) {
      let manifest: unknown;
      try {
        manifest = JSON.parse(data.bytes.toString('utf8'));
      } catch {
        throw new UsageError('the manifest is not JSON; print it without --json');
      }
      out.printJson({ reference: opened.reference, digest: data.digest, mediaType: data.mediaType, size: data.bytes.length, manifest });
    } else out.raw(data.bytes);
  };
  const manifest = program
    .command('manifest')
    .summary('print a manifest exactly as the registry serves it (get), or store one (put)')
    .description(`${DESCRIPTION}\n\n"regctl manifest REF" is "regctl manifest get REF"; "regctl manifest put REF FILE" stores a manifest file.`)
    .argument('<ref>', REF_HELP)
    .option('--platform <os/arch[/variant]>', 'from an index, the image for this platform')
    .addHelpText(
      'after',
      `
Examples:
  regctl manifest localhost:5000/app:1.0
  regctl manifest get localhost:5000/app:1.0 --platform linux/arm64
  regctl manifest localhost:5000/app:1.0 --json | jq .manifest.layers
  regctl manifest oci-archive:app.tar:1.0
  regctl manifest put localhost:5000/app:1.1 manifest.json`,
    )
    .action(action);
  manifest
    .command('get')
    .summary('print a manifest exactly as the registry serves it')
    .description(DESCRIPTION)
    .argument('<ref>', REF_HELP)
    .option('--platform <os/arch[/variant]>', 'from an index, the image for this platform')
    .addHelpText('after', '\nExamples:\n  regctl manifest get localhost:5000/app:1.0 | sha256sum')
    .action(action);
  registerManifestPut(manifest, ctx);
}
