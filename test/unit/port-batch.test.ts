/**
 * `PortBatch` over a real MessageChannel: what is posted in one turn of the event loop arrives as one message,
 * in order; a lone message arrives as itself; the next turn's messages make another batch.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { eachMessage, PortBatch } from '../../host/src/capabilities/port-batch.js';

function receiver(port: MessagePort) {
  const events: unknown[] = [];
  const seen: number[] = [];
  port.on('message', (m: { n: number } | Array<{ n: number }>) => {
    events.push(m);
    eachMessage(m, (one) => seen.push(one.n));
  });
  return { events, seen };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

it('three messages posted in one turn arrive as one array, in order; the next turn makes a batch of its own', async () => {
  const { port1, port2 } = new MessageChannel();
  const got = receiver(port2);
  const batch = new PortBatch<{ n: number }>(port1);
  batch.post({ n: 1 });
  batch.post({ n: 2 });
  batch.post({ n: 3 });
  await settle();
  assert.deepEqual(got.events, [[{ n: 1 }, { n: 2 }, { n: 3 }]]);
  batch.post({ n: 4 });
  batch.post({ n: 5 });
  await settle();
  assert.deepEqual(got.seen, [1, 2, 3, 4, 5]);
  assert.equal(got.events.length, 2);
  port1.close();
});

it('a message posted alone arrives as itself, not as an array of one', async () => {
  const { port1, port2 } = new MessageChannel();
  const got = receiver(port2);
  new PortBatch<{ n: number }>(port1).post({ n: 7 });
  await settle();
  assert.deepEqual(got.events, [{ n: 7 }]);
  assert.deepEqual(got.seen, [7]);
  port1.close();
});
