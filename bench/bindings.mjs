// The bindings benchmarks: output bindings (bindings.redis create, bindings.http post) against a bare fastify
// server doing the same with ioredis / undici, and input delivery (bindings.rabbitmq -> app) against a bare
// amqplib consumer POSTing to the same app. Each returns ratios measured in the same run.
import http from 'node:http';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { freePort, interleavedThroughput, median, startProcess, stop } from './lib.mjs';

const AMQP = process.env.MORTAR_TEST_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672';

const post = (body) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function baselineProcess(root, args, readyUrl, ok = [404], env = {}) {
  return startProcess(process.execPath, [join(root, 'bench/bindings-baseline.mjs'), ...args], readyUrl, ok, env);
}

/**
 * Rounds of the output-binding sections: their per-round ratios swing widely on the 2-core VM (0.4x to 0.7x
 * within one run), so they take the median of more rounds than the state sections.
 */
const OUTPUT_ROUNDS = 7;

/** `bindings.redis` create vs fastify + ioredis SET, 32 connections, interleaved rounds. */
export async function outputRedis({ root, REDIS, mortar, resources }) {
  const key = `bench-binding-${randomUUID().slice(0, 8)}`;
  const request = post({ operation: 'create', data: { n: 1, s: 'a bindings benchmark value' }, metadata: { key } });
  const m = await mortar(['--resources-path', resources('bindings.redis', { redisHost: REDIS }, 'out')]);
  const port = await freePort();
  const b = await baselineProcess(root, ['redis', String(port), REDIS], `http://127.0.0.1:${port}/none`);
  try {
    return await interleavedThroughput(`http://127.0.0.1:${m.port}/v1.0/bindings/out`, `http://127.0.0.1:${port}/v1.0/bindings/out`, {
      request,
      rounds: OUTPUT_ROUNDS,
    });
  } finally {
    await stop(m.proc);
    await stop(b.proc);
  }
}

/** `bindings.http` post vs fastify + undici forwarding to the same target server. */
export async function outputHttp({ root, mortar, resources }) {
  const targetPort = await freePort();
  const target = await startProcess(
    process.execPath,
    [join(root, 'bench/bindings-baseline.mjs'), 'target', String(targetPort)],
    `http://127.0.0.1:${targetPort}/`,
    [200],
  );
  const url = `http://127.0.0.1:${targetPort}/echo`;
  const m = await mortar(['--resources-path', resources('bindings.http', { url }, 'out')]);
  const port = await freePort();
  const b = await baselineProcess(root, ['http', String(port), url], `http://127.0.0.1:${port}/none`);
  try {
    const request = post({ operation: 'post', data: { n: 1, s: 'a bindings benchmark value' } });
    return await interleavedThroughput(`http://127.0.0.1:${m.port}/v1.0/bindings/out`, `http://127.0.0.1:${port}/v1.0/bindings/out`, {
      request,
      rounds: OUTPUT_ROUNDS,
    });
  } finally {
    await stop(m.proc);
    await stop(b.proc);
    await stop(target.proc);
  }
}

/** The app input events go to: counts POSTs to its route, answers 200 (and 200 to the OPTIONS probe). */
async function inputApp() {
  let count = 0;
  let waiter;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') {
        count++;
        if (waiter && count >= waiter.n) {
          waiter.resolve();
          waiter = undefined;
        }
      }
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    reset() {
      count = 0;
    },
    until(n) {
      return count >= n
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiter = { n, resolve };
          });
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

/** Publishes `n` messages to `queue` (publisher confirms), while the consumer under test delivers them. */
async function publishAll(queue, n) {
  const amqp = await import('amqplib');
  const conn = await amqp.connect(AMQP);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  const body = Buffer.from(JSON.stringify({ n: 1, s: 'a bindings benchmark event' }));
  for (let i = 0; i < n; i++) ch.sendToQueue(queue, body, { persistent: false });
  await ch.waitForConfirms();
  await conn.close();
}

async function deliveryRate(app, queue, n) {
  // Warm-up: the consumer is up and the app takes events.
  app.reset();
  await publishAll(queue, 200);
  await app.until(200);
  app.reset();
  const t0 = performance.now();
  const done = app.until(n);
  await publishAll(queue, n);
  await done;
  return n / ((performance.now() - t0) / 1000);
}

/** `bindings.rabbitmq` input -> app vs an amqplib consumer POSTing to the same app; events per second. */
export async function inputRabbitmq({ root, mortar, resources }, rounds = 3, n = 5000) {
  const app = await inputApp();
  const ratios = [];
  const ours = [];
  const theirs = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const queue = `bench-in-${randomUUID().slice(0, 8)}`;
      const m = await mortar([
        '--app-port',
        String(app.port),
        '--resources-path',
        resources('bindings.rabbitmq', { host: AMQP, queueName: queue, durable: 'true', route: '/in' }, 'in'),
      ]);
      let a;
      try {
        a = await deliveryRate(app, queue, n);
      } finally {
        await stop(m.proc);
      }
      const bq = `${queue}-base`;
      const ready = await freePort();
      const b = await baselineProcess(root, ['rabbitmq', AMQP, bq, String(app.port), '/in'], `http://127.0.0.1:${ready}/`, [204], {
        READY_PORT: String(ready),
      });
      let c;
      try {
        c = await deliveryRate(app, bq, n);
      } finally {
        await stop(b.proc);
      }
      ours.push(a);
      theirs.push(c);
      ratios.push(a / c);
    }
  } finally {
    await app.close();
  }
  return { ratio: median(ratios), ratios, value: median(ours), baseline: median(theirs) };
}
