// The store thread of the spike's `port` mode (README.md): ioredis and state.redis's read script, as `redis`
// mode runs them in each worker, served to the workers over MessagePorts (one message each way per get, or per
// batch of gets made in one turn of a worker's event loop). It stands for mortar's store worker reached
// directly from the workload's thread, without the main thread between.
import { workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { readValue } from './read.mjs';

const { redis: redisAt, script, ports } = workerData;
const [host, p] = redisAt.split(':');
const redis = new Redis({ host, port: Number(p) });
for (const port of ports) {
  port.on('message', async (batch) => {
    // A failed read answers its error (the worker's get rejects with it), so no get waits for ever.
    const out = await Promise.all(
      batch.map(async ([id, key]) => {
        try {
          return [id, await readValue(redis, script, key)];
        } catch (err) {
          return [id, undefined, String(err)];
        }
      }),
    );
    port.postMessage(out);
  });
}
