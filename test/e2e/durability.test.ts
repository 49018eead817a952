/**
 * Writes acknowledged by the embedded default store survive `kill -9` and a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Sidecar, tempDir } from '../helpers/sidecar.js';

describe('durability of the embedded default store', () => {
  it('every acknowledged write survives kill -9 mid-stream', async () => {
    const dataDir = tempDir('durable');
    const sc = await Sidecar.start({ dataDir });
    const acked = new Map<string, number>();
    let stop = false;
    // Four writers, each writing its own keys as fast as acknowledgements come back.
    const writers = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i}`;
        try {
          const r = await sc.fetch('/v1.0/state/statestore', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify([{ key, value: { w, i } }]),
          });
          if (r.status === 204) acked.set(key, i);
        } catch {
          return; // the process died under us
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    await sc.kill9();
    stop = true;
    await Promise.all(writers);
    assert.ok(acked.size > 100, `acknowledged ${acked.size} writes before the kill`);

    const again = await Sidecar.start({ dataDir });
    try {
      const keys = [...acked.keys()];
      for (let i = 0; i < keys.length; i += 200) {
        const chunk = keys.slice(i, i + 200);
        const r = await again.json('POST', '/v1.0/state/statestore/bulk', { keys: chunk });
        const items = r.body as Array<{ key: string; data?: { i: number } }>;
        for (const it of items) assert.equal(it.data?.i, acked.get(it.key), `${it.key} survived`);
      }
    } finally {
      await again.stop();
    }
  });
});
