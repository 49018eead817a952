/** The sidecar identity brokers use to tell the sidecars of one app apart (`sidecarId`). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sidecarId } from '../../host/src/sidecar-id.js';

describe('sidecarId', () => {
  it('is made once per data directory and app id, kept on disk, and read back after a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortar-sid-'));
    const first = sidecarId(dir, 'orders', {});
    assert.match(first, /^[a-f0-9]{16}$/);
    assert.equal(readFileSync(join(dir, 'sidecar', 'orders.id'), 'utf8').trim(), first);
    assert.equal(sidecarId(dir, 'orders', {}), first, 'the same after a restart');
    assert.notEqual(sidecarId(dir, 'billing', {}), first, 'another app id in the same directory gets its own');
    assert.notEqual(sidecarId(mkdtempSync(join(tmpdir(), 'mortar-sid-')), 'orders', {}), first, 'another sidecar gets its own');
  });

  it('is the pod name in Kubernetes, made safe for broker names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortar-sid-'));
    assert.equal(sidecarId(dir, 'orders', { POD_NAME: 'orders-7f9c/x y' }), 'orders-7f9c_x_y');
  });
});
