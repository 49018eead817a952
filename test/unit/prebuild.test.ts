/** The build-time transpile of a components folder (`prebuildComponents`), as `npm run build` runs it on dist/components. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prebuildComponents, prebuiltRoot } from '../../host/src/components/prebuild.js';
import { GLUE_ID, TranspileCache } from '../../host/src/components/transpile-cache.js';
import { BUILTIN_COMPONENTS } from '../helpers/sidecar.js';

describe('prebuildComponents', () => {
  it('transpiles and describes each .wasm once, keeps what is up to date, drops stale artifacts, and the runtime cache reads the result as prebuilt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortar-prebuild-'));
    copyFileSync(join(BUILTIN_COMPONENTS, 'state.in-memory.wasm'), join(dir, 'state.in-memory.wasm'));
    const root = prebuiltRoot(dir);
    const stale = join(root, GLUE_ID, 'f'.repeat(64));
    const oldJco = join(root, 'jco-0.0.1');
    mkdirSync(stale, { recursive: true });
    mkdirSync(oldJco, { recursive: true });

    const [first] = await prebuildComponents(dir);
    assert.equal(first!.origin, 'transpiled');
    assert.deepEqual(first!.types, ['state.in-memory']);
    const artifact = join(root, GLUE_ID, first!.hash);
    for (const f of ['component.js', 'manifest.json', 'descriptor.json']) assert.ok(existsSync(join(artifact, f)), `${f} is prebuilt`);
    assert.deepEqual(readdirSync(root), [GLUE_ID], 'other jco versions are removed');
    assert.deepEqual(readdirSync(join(root, GLUE_ID)), [first!.hash], 'artifacts of files that are gone are removed');

    const [again] = await prebuildComponents(dir);
    assert.equal(again!.origin, 'prebuilt', 'a second build reuses the artifact');

    // The runtime's cache: prebuilt roots are read first, and its own (data dir) root is not written.
    const dataCache = mkdtempSync(join(tmpdir(), 'mortar-prebuild-data-'));
    const a = await new TranspileCache(dataCache, [root]).get(readFileSync(join(dir, 'state.in-memory.wasm')), 'state.in-memory.wasm');
    assert.equal(a.origin, 'prebuilt');
    assert.equal(a.dir, artifact);
    assert.deepEqual(readdirSync(dataCache), [], 'nothing is written to the data dir');
  });
});
