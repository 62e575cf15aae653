import { describe, expect, it } from 'vitest';
import { parseLocation } from '../../src/content/location.js';
import { checkCopyFlags, checkDigestDestination, copyTags, defaultArchiveName, exportTag, importTag, mountSource, refuseTarToTerminal } from '../../src/copy/plan.js';
import type { ImageSource } from '../../src/content/types.js';

const loc = parseLocation;
const noSource = {} as ImageSource;

describe('copy plan: destination tags', () => {
  it('copy keeps the source tag, DST names its own, --tag adds more (deduplicated)', () => {
    const src = loc('localhost:5000/a:1.0');
    expect(copyTags({ src, sourceRef: '1.0', dstRef: {}, extra: undefined })).toEqual(['1.0']);
    expect(copyTags({ src, sourceRef: '1.0', dstRef: { tag: '2' }, extra: ['x', '2'] })).toEqual(['2', 'x']);
    // a digest DST stores by digest only, unless --tag adds one
    expect(copyTags({ src, sourceRef: '1.0', dstRef: { digest: 'sha256:' + 'a'.repeat(64) } })).toEqual([]);
    expect(copyTags({ src, sourceRef: '1.0', dstRef: { digest: 'sha256:' + 'a'.repeat(64) }, extra: ['t'] })).toEqual(['t']);
  });

  it('copy to an archive uses the archive tag, else the source ref when it is a tag (not a digest)', () => {
    expect(copyTags({ src: loc('oci:./l:5'), sourceRef: '5', targetRef: '9' })).toEqual(['9']);
    expect(copyTags({ src: loc('oci:./l:5'), sourceRef: '5' })).toEqual(['5']);
    expect(copyTags({ src: loc('oci:./l'), sourceRef: 'sha256:' + 'b'.repeat(64) })).toEqual([]);
    expect(copyTags({ src: loc('oci:./l'), sourceRef: 'x', targetRef: 'sha256:' + 'b'.repeat(64) })).toEqual(['x']);
  });

  it('import: REF\'s tag, none for a digest (then the archive\'s), else the target\'s; export falls back to latest', () => {
    expect(importTag({ dstRef: { tag: 'v2' }, sourceRef: '1' })).toBe('v2');
    expect(importTag({ dstRef: {}, sourceRef: '1' })).toBe('1');
    expect(importTag({ dstRef: { digest: 'sha256:' + 'c'.repeat(64), tag: 'v' }, sourceRef: '1' })).toBe('1');
    expect(importTag({ targetRef: 't', sourceRef: '1' })).toBe('t');
    expect(importTag({ sourceRef: 'sha256:' + 'c'.repeat(64) })).toBeUndefined();
    expect(exportTag({ targetRef: 'a', sourceRef: 'b' })).toBe('a');
    expect(exportTag({ sourceRef: 'b' })).toBe('b');
    expect(exportTag({ sourceRef: 'sha256:' + 'c'.repeat(64) })).toBe('latest');
  });
});

describe('copy plan: checks and mounts', () => {
  it('mounts only between repositories of one registry', () => {
    expect(mountSource(loc('h:5000/a:1'), loc('h:5000/b:1'))).toBe('a');
    expect(mountSource(loc('h:5000/a:1'), loc('h:5000/a:2'))).toBeUndefined();
    expect(mountSource(loc('h:5000/a:1'), loc('g:5000/b:1'))).toBeUndefined();
    expect(mountSource(loc('oci:./x'), loc('h:5000/b:1'))).toBeUndefined();
  });

  it('refuses flag combinations with the same messages as ever', () => {
    const reg = loc('h:5000/a'), oci = loc('oci:./x');
    const base = { src: reg, dst: reg, allTags: true, tags: false, platform: false, filters: false };
    expect(() => checkCopyFlags({ ...base, allTags: false, filters: true })).toThrow('--include, --exclude and --skip-existing go with --all-tags');
    expect(() => checkCopyFlags({ ...base, dst: oci })).toThrow('--all-tags copies between registry repositories');
    expect(() => checkCopyFlags({ ...base, tags: true })).toThrow('--tag does not go with --all-tags (each tag keeps its name)');
    expect(() => checkCopyFlags({ ...base, platform: true })).toThrow('--platform does not go with --all-tags');
    expect(() => checkCopyFlags(base)).not.toThrow();
    expect(() => checkCopyFlags({ ...base, allTags: false, dst: oci, tags: true })).not.toThrow();
  });

  it('a digest destination must be what arrives', () => {
    const d = 'sha256:' + 'd'.repeat(64), e = 'sha256:' + 'e'.repeat(64);
    expect(() => checkDigestDestination('h/a@x', d, d)).not.toThrow();
    expect(() => checkDigestDestination('h/a@x', undefined, e)).not.toThrow();
    expect(() => checkDigestDestination('h/a@x', d, e)).toThrow(`h/a@x names digest ${d} but the source is ${e}`);
    expect(() => checkDigestDestination('destination', d, e, 'the image')).toThrow(`destination names digest ${d} but the image is ${e}`);
  });

  it('refuses a tar to a terminal only', () => {
    expect(() => refuseTarToTerminal(loc('docker-archive:-'), { isTTY: true })).toThrow(/refusing to write a tar archive to a terminal/);
    expect(() => refuseTarToTerminal(loc('docker-archive:-'), { isTTY: false })).not.toThrow();
    expect(() => refuseTarToTerminal(loc('docker-archive:x.tar'), { isTTY: true })).not.toThrow();
  });

  it('names a docker-archive after the source repository or archive', () => {
    expect(defaultArchiveName(loc('h:5000/team/app:1'), noSource)).toBe('h:5000/team/app');
    expect(defaultArchiveName(loc('oci:./x'), noSource)).toBeUndefined();
    const saved = { image: { repoTags: ['team/app:5'] } } as unknown as ImageSource;
    expect(defaultArchiveName(loc('docker-archive:a.tar'), saved)).toBe('team/app');
    expect(defaultArchiveName(loc('docker-archive:a.tar'), { image: { repoTags: ['h:5000/app'] } } as unknown as ImageSource)).toBe('h:5000/app');
    expect(defaultArchiveName(loc('docker-archive:a.tar'), noSource)).toBeUndefined();
  });
});
