import { describe, expect, it } from 'vitest';
import { UsageError, ReferenceError } from '../../src/errors.js';
import { formatReference, parseReference } from '../../src/ref/reference.js';
import { parseRetagTarget } from '../../src/retag/targets.js';

describe('retag destinations', () => {
  const local = parseReference('localhost:5000/team/app:1.9.2');
  const hub = parseReference('myimage:1.9.2');

  it.each([
    [local, 'stable', 'localhost:5000/team/app:stable'],
    [local, 'other:stable', 'localhost:5000/other:stable'],
    [local, 'archive/app:1.9.2', 'localhost:5000/archive/app:1.9.2'],
    [local, 'localhost:5000/archive/app:x', 'localhost:5000/archive/app:x'],
    [hub, 'stable', 'docker.io/library/myimage:stable'],
    [hub, 'other:stable', 'docker.io/library/other:stable'],
    [hub, 'me/other:stable', 'docker.io/me/other:stable'],
    [hub, 'docker.io/me/other:stable', 'docker.io/me/other:stable'],
  ])('%# %s', (source, input, want) => {
    expect(formatReference(parseRetagTarget(source, input))).toBe(want);
  });

  it.each([
    [local, 'localhost:5001/team/app:x', UsageError, /on another registry than localhost:5000: .*use regctl copy localhost:5000\/team\/app:1.9.2 localhost:5001\/team\/app:x$/],
    [local, 'ghcr.io/team/app:x', UsageError, /use regctl copy/],
    [hub, 'localhost:5000/app:x', UsageError, /use regctl copy/],
    [local, 'other', undefined, undefined],
    [local, 'archive/app', UsageError, /needs a tag/],
    [local, `other@sha256:${'a'.repeat(64)}`, UsageError, /needs a tag/],
    [local, '-bad', ReferenceError, /invalid tag "-bad"/],
    [local, 'Other:x', ReferenceError, /must be lowercase/],
  ])('%# refuses %s', (source, input, type, message) => {
    if (!type) {
      // A bare word is a tag in the source repository, never a repository.
      expect(parseRetagTarget(source, input).repository).toBe('team/app');
      return;
    }
    expect(() => parseRetagTarget(source, input)).toThrow(type);
    expect(() => parseRetagTarget(source, input)).toThrow(message!);
  });
});
