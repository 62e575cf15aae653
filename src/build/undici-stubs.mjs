// esbuild plugin shared by the ESM bundle (bundle.mjs) and the single executable (sea.mjs).
import { join } from 'node:path';

/**
 * undici modules regctl never runs, replaced by stubs so they are neither bundled nor parsed at
 * every start: the HTTP/2 client (allowH2 is never set; it would load node:http2) and fetch's
 * body extraction (only for FormData request bodies; ~100 KB of fetch/webidl code).
 */
const STUBS = [
  { file: /[/\\]dispatcher[/\\]client-h2\.js$/, contents: "module.exports = function connectH2 () { throw new Error('HTTP/2 is not enabled in regctl') }" },
  { file: /[/\\]web[/\\]fetch[/\\]body\.js$/, contents: "module.exports = { extractBody () { throw new Error('FormData request bodies are not supported by regctl') } }" },
];

export const undiciStubs = {
  name: 'regctl-undici-stubs',
  setup(b) {
    b.onResolve({ filter: /client-h2\.js$|fetch[/\\]body\.js$/ }, (args) => {
      if (!args.importer.includes(`${join('node_modules', 'undici')}`)) return undefined;
      const full = join(args.resolveDir, args.path);
      const i = STUBS.findIndex((s) => s.file.test(full));
      return i < 0 ? undefined : { path: String(i), namespace: 'regctl-undici-stub' };
    });
    b.onLoad({ filter: /.*/, namespace: 'regctl-undici-stub' }, (args) => ({ contents: STUBS[Number(args.path)].contents, loader: 'js' }));
  },
};
