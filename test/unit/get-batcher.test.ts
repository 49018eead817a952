import { it } from 'node:test';
import assert from 'node:assert/strict';
import { GetBatcher, BulkItemError, type BatchedRead } from '../../host/src/blocks/state/get-batcher.js';

/** A recording in-process backend: values are the keys upper-cased; key 'boom' fails its batch. */
function backend() {
  const calls: string[][] = [];
  return {
    calls,
    get: async (r: BatchedRead) => {
      calls.push([r.key]);
      if (r.key === 'boom') throw new Error('trap');
      return r.key.toUpperCase();
    },
    bulkGet: async (rs: BatchedRead[]) => {
      calls.push(rs.map((r) => r.key));
      if (rs.some((r) => r.key === 'boom')) throw new Error('trap');
      return rs.map((r) => (r.key === 'bad' ? { error: 'no' } : { item: r.key.toUpperCase() }));
    },
  };
}
const read = (key: string, metadata: Array<[string, string]> = []): BatchedRead => ({ key, consistency: 'strong', metadata });

it('reads in the same turn go out as one bulk-get; a lone read as a get', async () => {
  const b = backend();
  const g = new GetBatcher(b, 1);
  assert.deepEqual(await Promise.all(['a', 'b', 'c'].map((k) => g.get(read(k)))), ['A', 'B', 'C']);
  assert.deepEqual(b.calls, [['a', 'b', 'c']]);
  assert.equal(await g.get(read('d')), 'D');
  assert.deepEqual(b.calls[1], ['d']);
});

it('reads with different metadata are not mixed; a per-key error rejects only that read', async () => {
  const b = backend();
  const g = new GetBatcher(b, 4);
  const rs = await Promise.allSettled([g.get(read('a')), g.get(read('bad')), g.get(read('c', [['x', '1']])), g.get(read('d', [['x', '1']]))]);
  assert.deepEqual(
    rs.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
  );
  assert.ok((rs[1] as PromiseRejectedResult).reason instanceof BulkItemError);
  assert.deepEqual(b.calls.map((c) => c.join()).sort(), ['a,bad', 'c,d']);
});

it('while every slot is busy reads accumulate into the next batch', async () => {
  const b = backend();
  const g = new GetBatcher(b, 1);
  const first = g.get(read('a'));
  await new Promise((r) => setImmediate(r));
  const rest = ['b', 'c', 'd'].map((k) => g.get(read(k)));
  await Promise.all([first, ...rest]);
  assert.deepEqual(b.calls, [['a'], ['b', 'c', 'd']]);
});

it('a batch lost to an isolatable fault is retried read by read, so only the culprit fails', async () => {
  const b = backend();
  const g = new GetBatcher(b, 1, () => true);
  const rs = await Promise.allSettled(['x', 'boom', 'y'].map((k) => g.get(read(k))));
  assert.deepEqual(
    rs.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  const strict = new GetBatcher(backend(), 1);
  const rs2 = await Promise.allSettled(['x', 'boom'].map((k) => strict.get(read(k))));
  assert.deepEqual(
    rs2.map((r) => r.status),
    ['rejected', 'rejected'],
  );
});
