import type { Command } from 'commander';
import type { ImageDiff } from '../../raw/image-diff.js';
import type { CommandContext } from '../context.js';
import type { Output } from '../output.js';
import { openReadSource } from './source.js';

type Platform = import('../../oci/manifest.js').Platform;

async function platformOf(flag: string | undefined): Promise<Platform | undefined> {
  return flag === undefined ? undefined : (await import('../../oci/platform.js')).parsePlatform(flag);
}

export function register(program: Command, ctx: CommandContext): void {
  const image = program
    .command('image')
    .summary("an image's config JSON (image config), or what differs between two images (image diff)")
    .description('Look inside images: "image config" prints the config JSON, "image diff" compares two images.')
    .addHelpText('after', '\nExamples:\n  regctl image config localhost:5000/app:1.0\n  regctl image diff localhost:5000/app:1.0 localhost:5000/app:1.1');

  image
    .command('config')
    .summary("print an image's config JSON exactly as stored")
    .description(`Print the config blob of an image byte for byte (verified against its digest). For an index, --platform picks the image. --json wraps it with the digests.`)
    .argument('<ref>', 'image reference, e.g. localhost:5000/app:1.0, oci:DIR[:TAG], oci-archive:FILE[:TAG]')
    .option('--platform <os/arch[/variant]>', 'from an index, the image for this platform')
    .addHelpText('after', '\nExamples:\n  regctl image config localhost:5000/app:1.0 | jq .config.Env\n  regctl image config localhost:5000/app:1.0 --platform linux/arm64')
    .action(async (input: string, flags: { platform?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const platform = await platformOf(flags.platform);
      const { imageConfig } = await import('../../raw/image-config.js');
      const opened = await openReadSource(ctx, out, input);
      let result;
      try {
        result = await imageConfig({ source: opened.source, ref: opened.ref }, platform);
      } finally {
        await opened.close();
      }
      if (!out.json) {
        out.raw(result.bytes);
        return;
      }
      let config: unknown;
      try {
        config = JSON.parse(result.bytes.toString('utf8'));
      } catch {
        config = null;
      }
      out.printJson({ reference: opened.reference, manifest: result.manifestDigest, digest: result.config.digest, mediaType: result.config.mediaType, size: result.bytes.length, config });
    });

  image
    .command('diff')
    .summary('compare two images: layers added, removed, the same; config fields that differ')
    .description(
      `Compare image A with image B: layers by digest (the same in both, removed from A, added in B) and the config fields whose values differ (rootfs and history are left out: the layers tell them). With indexes, --platform picks the image on both sides. Exit code 0 either way; --json has "identical".`,
    )
    .argument('<a>', 'first image, e.g. localhost:5000/app:1.0 (or oci:DIR:TAG ...)')
    .argument('<b>', 'second image, e.g. localhost:5000/app:1.1')
    .option('--platform <os/arch[/variant]>', 'from indexes, the image for this platform')
    .addHelpText('after', '\nExamples:\n  regctl image diff localhost:5000/app:1.0 localhost:5000/app:1.1\n  regctl image diff --json --platform linux/amd64 app:1.0 app:1.1')
    .action(async (a: string, b: string, flags: { platform?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const platform = await platformOf(flags.platform);
      const { diffImages } = await import('../../raw/image-diff.js');
      const left = await openReadSource(ctx, out, a);
      let diff: ImageDiff;
      let rightReference = b;
      try {
        const right = await openReadSource(ctx, out, b);
        rightReference = right.reference;
        try {
          diff = await diffImages({ source: left.source, ref: left.ref }, { source: right.source, ref: right.ref }, platform);
        } finally {
          await right.close();
        }
      } finally {
        await left.close();
      }
      if (out.json) out.printJson({ a: { reference: left.reference, ...diff.a }, b: { reference: rightReference, ...diff.b }, identical: diff.identical, layers: diff.layers, config: diff.config });
      else await printDiff(out, diff);
    });
}

/** `=`/`-`/`+` lines for layers, `path: A -> B` for config fields. */
async function printDiff(out: Output, diff: ImageDiff): Promise<void> {
  const { formatBytes } = await import('../format.js');
  const c = await out.colors();
  const { same, removed, added } = diff.layers;
  out.line(`layers: ${same.length} same, ${removed.length} removed, ${added.length} added`);
  for (const l of same) out.line(`  = ${l.digest}  ${formatBytes(l.size)}`);
  for (const l of removed) out.line(c.red(`  - ${l.digest}  ${formatBytes(l.size)}`));
  for (const l of added) out.line(c.green(`  + ${l.digest}  ${formatBytes(l.size)}`));
  out.line(`config: ${diff.config.length === 0 ? 'the same' : `${diff.config.length} field${diff.config.length === 1 ? '' : 's'} differ`}`);
  const show = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));
  for (const f of diff.config) out.line(`  ${c.bold(f.path)}: ${show(f.a)} -> ${show(f.b)}`);
}
