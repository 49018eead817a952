/**
 * The guest side of `mortar:app` in a workload worker (`components/sandbox/app-guest-imports.ts`): each import
 * forwards its arguments over the bridge as `app.<interface>.<function>`, an `app-error` reaches the guest as
 * the `payload` jco lowers into the result's `err`, a bridge failure becomes `internal`, and a call over
 * `WORKLOAD_LIMITS.appCallBytes` fails with `bad-request` without crossing; the interfaces link by semver (0.1.x).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { APP_INTERFACES, appGuestImports, callBytes } from '../../host/src/components/sandbox/app-guest-imports.js';
import { unservedImport } from '../../host/src/components/sandbox/workload-imports.js';
import { WORKLOAD_LIMITS } from '../../host/src/workloads/limits.js';

type Fn = (...a: unknown[]) => unknown;
const payloadOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as { payload?: { tag: string; val: { code: string; message: string } } }).payload;
  }
  assert.fail('the call succeeded');
};

describe('mortar:app guest imports', () => {
  it('every WIT function is an import under its jco name, forwarded as app.<interface>.<function> with its arguments; the ok value is returned', () => {
    const calls: Array<[string, unknown[]]> = [];
    const imports = appGuestImports((op, args) => {
      calls.push([op, args]);
      return op === 'app.metadata.app-id' ? 'orders' : undefined;
    }, WORKLOAD_LIMITS.appCallBytes);
    assert.deepEqual(Object.keys(imports).sort(), ['mortar:app/bindings', 'mortar:app/metadata', 'mortar:app/pubsub', 'mortar:app/state']);
    assert.deepEqual(Object.keys(imports['mortar:app/state']!).sort(), ['delete', 'deleteBulk', 'get', 'getBulk', 'save', 'transact']);
    assert.equal((imports['mortar:app/metadata']!.appId as Fn)(), 'orders');
    const value = new Uint8Array([0, 1, 2]);
    (imports['mortar:app/state']!.save as Fn)('statestore', [{ key: 'k', value, concurrency: 'last-write', consistency: 'eventual', metadata: [] }]);
    (imports['mortar:app/pubsub']!.publishBulk as Fn)('pubsub', 't', [], []);
    assert.deepEqual(
      calls.map(([op]) => op),
      ['app.metadata.app-id', 'app.state.save', 'app.pubsub.publish-bulk'],
    );
    assert.equal((calls[1]![1][1] as Array<{ value: Uint8Array }>)[0]!.value, value, 'the arguments as jco lifted them');
    const all = Object.values(APP_INTERFACES).flat().length;
    assert.equal(Object.values(imports).flatMap((i) => Object.keys(i)).length, all);
  });

  it("the host's app-error reaches the guest as the payload; a bridge failure is internal (ERR_INTERNAL) naming the function", () => {
    const appError = { tag: 'etag-mismatch', val: { code: 'ERR_STATE_SAVE', message: 'possible etag mismatch' } };
    // As BridgeClient.perform throws: an Error with the host's {tag, val} as payload, its message the val.
    const failing = (payload: { tag: string; val: unknown }) =>
      appGuestImports(() => {
        throw Object.assign(new Error(typeof payload.val === 'string' ? payload.val : payload.tag), { payload });
      }, 1024);
    assert.deepEqual(
      payloadOf(() => (failing(appError)['mortar:app/state']!.save as Fn)('s', [])),
      appError,
    );
    const lost = payloadOf(() => (failing({ tag: 'unavailable', val: 'host call timed out after 10ms' })['mortar:app/pubsub']!.publish as Fn)('p', 't', {}));
    assert.equal(lost!.tag, 'internal');
    assert.equal(lost!.val.code, 'ERR_INTERNAL');
    assert.match(lost!.val.message, /^internal error: mortar:app pubsub\.publish: host call timed out after 10ms$/);
    // metadata.get returns no result: its failure is the guest's trap, not an err.
    assert.throws(() => (failing(appError)['mortar:app/metadata']!.get as Fn)(), /^Error: etag-mismatch$/);
  });

  it('a call whose arguments are over the bound fails with bad-request (ERR_BAD_REQUEST) and never reaches the host', () => {
    let reached = 0;
    const imports = appGuestImports(() => {
      reached++;
    }, 1000);
    const save = imports['mortar:app/state']!.save as Fn;
    const item = (n: number) => [{ key: 'k', value: new Uint8Array(n), concurrency: 'last-write', consistency: 'eventual', metadata: [] }];
    save('s', item(500));
    assert.equal(reached, 1);
    const p = payloadOf(() => save('s', item(1000)));
    assert.equal(reached, 1, 'nothing crossed');
    assert.equal(p!.tag, 'bad-request');
    assert.equal(p!.val.code, 'ERR_BAD_REQUEST');
    assert.match(p!.val.message, /^invalid request: mortar:app state\.save: the arguments are over the 1000 bytes a workload may send in one call$/);
  });

  it('callBytes counts bytes by length, strings in UTF-8, any other value as 8, and stops past the limit', () => {
    assert.equal(callBytes([], 100), 8);
    assert.equal(callBytes([new Uint8Array(10)], 100), 8 + 10);
    assert.equal(callBytes(['é€'], 100), 8 + 5);
    assert.equal(callBytes([{ a: 1n, b: undefined }], 100), 8 + 8 + 8 + 8);
    // A list of 100 million entries is not walked: the count stops once over the limit.
    const huge = new Array(100_000_000);
    const t = callBytes([huge], 4096);
    assert.ok(t > 4096 && t < 8192, String(t));
  });

  it('mortar:app links by semver: any 0.1.x of its interfaces, not 0.2.0 nor an interface it does not have', () => {
    assert.equal(unservedImport(['mortar:app/types@0.1.0', 'mortar:app/state@0.1.0', 'mortar:app/metadata@0.1.7']), undefined);
    assert.match(unservedImport(['mortar:app/state@0.2.0'])!, /version 0\.2\.0 is not one mortar serves for mortar:app/);
    assert.match(unservedImport(['mortar:app/secrets@0.1.0'])!, /not an interface mortar serves/);
  });
});
