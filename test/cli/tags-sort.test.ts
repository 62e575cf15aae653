import { describe, expect, it } from 'vitest';
import parse from 'semver/functions/parse.js';
import { semverOrder } from '../../src/cli/commands/tags.js';
import { makeImage, pushImage } from '../helpers/images.js';
import { runCli } from '../helpers/cli.js';
import { startServe } from '../helpers/serve.js';
import { RegistryClient } from '../../src/registry/client.js';

// `tags --sort semver | tail -n 1` is documented as the newest release: pre-releases of a newer
// version and floating tags (1, 1.10) must not end up after it.

const order = (tags: string[]): string[] => semverOrder(tags, { parse });

describe('--sort semver order', () => {
  it('the last tag is the newest release even when a newer pre-release exists', () => {
    const tags = ['2.0.0', '2.1.0-rc.1', '1.9.2', '2.1.0-beta.2', 'latest'];
    expect(order(tags)).toEqual(['latest', '2.1.0-beta.2', '2.1.0-rc.1', '1.9.2', '2.0.0']);
  });

  it('floating tags sort by number, after the other words and before full versions', () => {
    expect(order(['1.9', '1', '1.10', '1.8', 'v2', '2', 'stable', '1.10.0', 'edge'])).toEqual(['edge', 'stable', '1', '1.8', '1.9', '1.10', '2', 'v2', '1.10.0']);
  });

  it('v-prefixed and plain versions sort together; equal versions by name', () => {
    expect(order(['v1.0.0', '1.0.0', '0.9.0', 'v1.0.1'])).toEqual(['0.9.0', '1.0.0', 'v1.0.0', 'v1.0.1']);
  });
});

describe('regctl tags --sort semver | tail -n 1', () => {
  it('prints the newest release last, against the project registry', async () => {
    const serve = await startServe({ memory: true });
    try {
      const repo = new RegistryClient().repository(serve.registry, 'app');
      const img = makeImage();
      await pushImage(repo, img, '2.0.0');
      for (const t of ['1', '1.8', '1.9', '1.10', '2', '2.1.0-rc.1', '1.10.3', 'latest']) await repo.putManifest(t, img.manifest);
      const r = await runCli(['tags', '--sort', 'semver', `${serve.registry}/app`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(['latest', '1', '1.8', '1.9', '1.10', '2', '2.1.0-rc.1', '1.10.3', '2.0.0'].join('\n') + '\n');
      expect(r.stdout.trim().split('\n').at(-1)).toBe('2.0.0');
    } finally {
      await serve.close();
    }
  });
});
