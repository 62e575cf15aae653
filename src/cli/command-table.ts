import type { RegisterCommand } from './context.js';

export const DESCRIPTION = 'Manage container images across registries, with a registry server built in.';

/** Shown after the top-level help. */
export const EXAMPLES = `
Examples:
  regctl serve --port 5000        run a registry (data in ~/.local/share/regctl)
  regctl tags localhost:5000/myimage
  regctl copy docker.io/library/alpine:3.20 localhost:5000/alpine:3.20
  regctl retag --semver localhost:5000/myimage:1.9.2

Exit codes: 0 ok, 1 error (or a question answered no), 2 usage, 3 not found,
  4 authentication/authorisation, 5 integrity (digest mismatch, corrupt data),
  130 interrupted (Ctrl-C)`;

/** The program's own options as [flags, description], in --help order (main.ts defines them from this). */
export const GLOBAL_OPTIONS: readonly (readonly [string, string])[] = [
  ['-V, --version', 'output the version number'],
  ['--json', 'print machine-readable JSON on stdout'],
  ['-v, --verbose', 'log requests on stderr (credentials masked)'],
  ['--no-color', 'never colour the output (NO_COLOR is honoured too)'],
  ['--creds-file <file>', 'registry credentials for this run, Docker config.json format (read only; also REGCTL_CREDS_FILE)'],
  ['-h, --help', 'display help for command'],
];

export type CommandModule = { register: RegisterCommand };

/**
 * The command table, in --help order. Start-up time matters (`regctl --version`, `--help`, and
 * every short registry command pay it), so a run imports only the module of the command it runs;
 * every other command is a stub carrying what the top-level help lists (name, alias, usage term,
 * summary). test/cli/help.test.ts checks these against the real definitions, and help.ts
 * renders `regctl --help` from them without loading commander.
 */
export interface CommandEntry {
  name: string;
  alias?: string;
  /** How `regctl --help` lists it, e.g. `copy|cp [options] <src> <dst>`. */
  term: string;
  summary: string;
  load: () => Promise<CommandModule>;
}

const serve = (): Promise<CommandModule> => import('./commands/serve.js');
const catalog = (): Promise<CommandModule> => import('./commands/catalog.js');
const tags = (): Promise<CommandModule> => import('./commands/tags.js');
const search = (): Promise<CommandModule> => import('./commands/search.js');
const inspect = (): Promise<CommandModule> => import('./commands/inspect.js');
const digest = (): Promise<CommandModule> => import('./commands/digest.js');
const manifest = (): Promise<CommandModule> => import('./commands/manifest.js');
const copy = (): Promise<CommandModule> => import('./commands/copy.js');
const retag = (): Promise<CommandModule> => import('./commands/retag.js');
const del = (): Promise<CommandModule> => import('./commands/delete.js');
const archive = (): Promise<CommandModule> => import('./commands/archive.js');
const login = (): Promise<CommandModule> => import('./commands/login.js');
const config = (): Promise<CommandModule> => import('./commands/config.js');
const sync = (): Promise<CommandModule> => import('./commands/sync.js');
const ratelimit = (): Promise<CommandModule> => import('./commands/ratelimit.js');
const blob = (): Promise<CommandModule> => import('./commands/blob.js');
const image = (): Promise<CommandModule> => import('./commands/image.js');

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'serve', term: 'serve [options]', summary: 'run an OCI registry (data kept on disk)', load: serve },
  { name: 'catalog', term: 'catalog [options] <host>', summary: 'list the repositories of a registry', load: catalog },
  { name: 'search', term: 'search [options] <host> <term>', summary: 'find repositories of a registry by name', load: search },
  { name: 'tags', term: 'tags [options] <repository>', summary: 'list the tags of a repository', load: tags },
  { name: 'inspect', term: 'inspect [options] <ref>', summary: 'show media type, digest, size, platforms or config and layers of an image', load: inspect },
  { name: 'digest', term: 'digest [options] <ref>', summary: 'print the digest of an image (HEAD request), for pinning', load: digest },
  { name: 'manifest', term: 'manifest [options] <ref>', summary: 'print a manifest exactly as the registry serves it (get), or store one (put)', load: manifest },
  { name: 'image', term: 'image', summary: "an image's config JSON (image config), or what differs between two images (image diff)", load: image },
  { name: 'blob', term: 'blob', summary: 'download or upload one blob, streamed and verified', load: blob },
  { name: 'copy', alias: 'cp', term: 'copy|cp [options] <src> <dst>', summary: 'copy an image, an index with all its platforms, or a whole repository', load: copy },
  { name: 'retag', term: 'retag [options] <ref> [tags...]', summary: 'put an image under more tags, or keep the 1 / 1.9 / 1.9.2 / latest scheme (--semver)', load: retag },
  { name: 'sync', term: 'sync [options] <file>', summary: 'mirror the repositories a YAML file lists (tag filters, whole registries, layouts)', load: sync },
  { name: 'ratelimit', term: 'ratelimit <image>', summary: "show the pulls left at a registry that limits them (Docker Hub's RateLimit headers)", load: ratelimit },
  { name: 'delete', term: 'delete [options] <ref>', summary: 'delete an image manifest (and with it every tag on its digest)', load: del },
  { name: 'tag', term: 'tag', summary: 'manage tags (tag rm)', load: del },
  { name: 'import', term: 'import [options] <file> <ref>', summary: 'push a docker save archive or an OCI layout (dir or tar) to a registry', load: archive },
  { name: 'export', term: 'export [options] <ref> <file>', summary: 'write an image to a docker-archive (for docker load) or an OCI layout', load: archive },
  { name: 'login', term: 'login [options] <host>', summary: 'check credentials against a registry and store them for regctl', load: login },
  { name: 'logout', term: 'logout <host>', summary: "remove a registry's credentials from regctl's store", load: login },
  { name: 'config', term: 'config', summary: 'per-registry connection settings (insecure, CA file, skip-verify), default registry', load: config },
];
