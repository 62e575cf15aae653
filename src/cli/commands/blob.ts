import type { Command } from 'commander';
import { InterruptedError, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { registryOptions } from './source.js';

export function register(program: Command, ctx: CommandContext): void {
  const blob = program
    .command('blob')
    .summary('download or upload one blob, streamed and verified')
    .description('Raw blob access: "blob get" downloads one blob by digest, "blob put" uploads a file as a blob.')
    .addHelpText('after', '\nExamples:\n  regctl blob get localhost:5000/app@sha256:... layer.tar.gz\n  regctl blob put localhost:5000/app layer.tar.gz');

  blob
    .command('get')
    .summary('download a blob by digest to FILE or stdout, verified')
    .description(
      `Download the blob REPO@DIGEST to FILE (written under a temporary name and renamed once its digest matched: a mismatch leaves no file, exit 5) or, without FILE, to stdout (checked at the end: exit 5 means the bytes are not the blob).`,
    )
    .argument('<ref>', 'REPO@DIGEST, e.g. localhost:5000/app@sha256:...')
    .argument('[file]', 'where to write it (default: stdout)')
    .addHelpText('after', '\nExamples:\n  regctl blob get localhost:5000/app@sha256:... layer.tar.gz\n  regctl blob get localhost:5000/app@sha256:... | tar -tz')
    .action(async (input: string, file: string | undefined, _flags: object, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseReference } = await import('../../ref/reference.js');
      const ref = parseReference(input, { defaultTag: false });
      if (!ref.digest) throw new UsageError(`${input}: name the blob by digest, REPO@sha256:...`);
      if (file === undefined && ctx.streams.stdout.isTTY) throw new UsageError('refusing to write a blob to a terminal: name a FILE or redirect stdout');
      const { rawRepository } = await import('../../wiring/registry-client.js');
      const { getBlob } = await import('../../raw/blob-get.js');
      const repo = rawRepository(ref.registry, ref.repository, registryOptions(ctx, out));
      const { interruptible } = await import('../interrupt.js');
      const interrupt = interruptible(ctx.streams);
      let result;
      try {
        result = await getBlob({ repo, digest: ref.digest, ...(file !== undefined ? { file } : { sink: ctx.streams.stdout }), signal: interrupt.signal });
      } catch (e) {
        if (interrupt.signal.aborted) throw new InterruptedError(`blob get interrupted${file !== undefined ? `: ${file} was not written` : ''}`);
        throw e;
      } finally {
        interrupt.release();
      }
      if (out.json && file !== undefined) out.printJson(result);
      else if (file !== undefined) out.info(`${result.digest} ${result.size} bytes -> ${file}`);
    });

  blob
    .command('put')
    .summary('upload FILE (or - for stdin) as a blob; prints its digest')
    .description(`Upload FILE to REPO as one blob, streamed: the digest is computed while the bytes go out and the registry verifies it. Prints the digest (--json: the descriptor).`)
    .argument('<repo>', 'repository, e.g. localhost:5000/app')
    .argument('<file>', 'file to upload, or - for standard input')
    .option('--media-type <type>', 'media type for the --json descriptor', 'application/octet-stream')
    .addHelpText('after', '\nExamples:\n  regctl blob put localhost:5000/app layer.tar.gz\n  tar -cz dir | regctl blob put localhost:5000/app -')
    .action(async (input: string, file: string, flags: { mediaType: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseRepository } = await import('../../ref/reference.js');
      const ref = parseRepository(input);
      const { rawRepository } = await import('../../wiring/registry-client.js');
      const { putBlob } = await import('../../raw/blob-put.js');
      const repo = rawRepository(ref.registry, ref.repository, registryOptions(ctx, out));
      const source = file === '-' ? (ctx.streams.stdin as NodeJS.ReadableStream as import('node:stream').Readable) : file;
      if (!source) throw new UsageError('no standard input to read');
      const desc = await putBlob({ repo, input: source, mediaType: flags.mediaType });
      if (out.json) out.printJson(desc);
      else out.line(desc.digest);
    });
}
