import { expect, test } from 'vitest';
import { createRegistryServer } from '../../src/server/server.js';

test('createRegistryServer without a guard refuses to start instead of serving everyone anonymously', async () => {
  await expect(createRegistryServer({})).rejects.toThrow(
    'createRegistryServer needs a guard (http/guard.ts createGuard, as `regctl serve` builds it) or open: true to serve everyone anonymously',
  );
});

test('open: true is the explicit anonymous server', async () => {
  const reg = await createRegistryServer({ open: true });
  try {
    const { url } = await reg.listen(0, '127.0.0.1');
    const res = await fetch(`${url}/v2/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{}');
  } finally {
    await reg.close();
  }
});
