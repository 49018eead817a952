// One round of the pub/sub benchmark: the same subscriber app and publisher load against mortar
// (pubsub.redis) and against the ioredis baseline (pubsub-baseline.mjs), one after the other.
import http from 'node:http';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { field, frame, unaryClient } from './grpc.mjs';
import { freePort, startProcess, stop } from './lib.mjs';

/** The subscriber app: counts deliveries by message id and wakes whoever waits for one. */
async function subscriberApp(topic) {
  const waiters = new Map();
  let count = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/dapr/subscribe') {
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify([{ pubsubname: 'store', topic, route: '/in' }]));
      }
      count++;
      try {
        const id = JSON.parse(Buffer.concat(chunks).toString()).data?.id;
        waiters.get(id)?.();
        waiters.delete(id);
      } catch {
        /* not ours */
      }
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    get count() {
      return count;
    },
    reset() {
      count = 0;
    },
    waitFor(id) {
      return new Promise((r) => waiters.set(id, r));
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

/** A publisher over HTTP (`POST publishUrl`, up to 32 connections): `publish(json)` resolves on 204. */
function httpPublisher(publishUrl) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const publish = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        publishUrl,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`publish: ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return { publish, close: () => agent.destroy() };
}

/**
 * A publisher over gRPC (`PublishEvent` on one HTTP/2 connection, framed by hand as bench/grpc.mjs does):
 * `PublishEventRequest` 1 pubsub_name, 2 topic, 3 data, 4 data_content_type; resolves on grpc-status 0.
 */
function grpcPublisher(grpcPort, pubsub, topic) {
  const c = unaryClient(grpcPort, 'PublishEvent');
  const head = Buffer.concat([field(1, pubsub), field(2, topic)]);
  const type = field(4, 'application/json');
  return { publish: (body) => c.call(frame(Buffer.concat([head, field(3, body), type]))), close: c.close };
}

/**
 * Low-load latency (publish -> delivered, one at a time, `samples` messages) and throughput (`n` messages from
 * 32 publishers) of `publisher`.
 */
async function measure(publisher, app, { samples = 300, n = 2000 } = {}) {
  const { publish } = publisher;
  // Warm-up, then low-load latency: one message at a time, publish -> delivered.
  for (let i = 0; i < 50; i++) {
    const id = randomUUID();
    const w = app.waitFor(id);
    await publish(JSON.stringify({ id }));
    await w;
  }
  const lat = [];
  for (let i = 0; i < samples; i++) {
    const id = randomUUID();
    const w = app.waitFor(id);
    const t0 = performance.now();
    await publish(JSON.stringify({ id }));
    await w;
    lat.push(performance.now() - t0);
  }
  lat.sort((a, b) => a - b);
  // Throughput: 2000 messages from 32 concurrent publishers, until the app has them all.
  app.reset();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < n) {
        next++;
        await publish(JSON.stringify({ id: 'bulk' }));
      }
    }),
  );
  while (app.count < n) await new Promise((r) => setTimeout(r, 1));
  const rate = n / ((performance.now() - t0) / 1000);
  publisher.close();
  return { rate, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)] };
}

/** A subscriber app for a fresh topic: runs `fn(app, topic)`, then closes the app. */
async function withSubscriber(fn) {
  const topic = `bench-${randomUUID().slice(0, 8)}`;
  const app = await subscriberApp(topic);
  try {
    return await fn(app, topic);
  } finally {
    await app.close();
  }
}

/** A mortar sidecar (pubsub.redis as `store`, a fresh consumer group) delivering to `app`, subscribed: runs `fn(m)`, then stops it. */
async function withSidecar({ REDIS, mortar, resources }, app, fn) {
  const m = await mortar([
    '--resources-path',
    resources('pubsub.redis', { redisHost: REDIS, consumerID: `bench-${randomUUID().slice(0, 8)}` }),
    '--app-port',
    String(app.port),
  ]);
  try {
    // The subscription starts once the sidecar has read /dapr/subscribe.
    await new Promise((r) => setTimeout(r, 1500));
    return await fn(m);
  } finally {
    await stop(m.proc);
  }
}

export async function pubsubRound(ctx) {
  const { REDIS, root } = ctx;
  return withSubscriber(async (app, topic) => {
    const out = {};
    out.mortar = await withSidecar(ctx, app, (m) => measure(httpPublisher(`http://127.0.0.1:${m.port}/v1.0/publish/store/${topic}`), app));
    const port = await freePort();
    const b = await startProcess(
      process.execPath,
      [join(root, 'bench/pubsub-baseline.mjs'), String(port), REDIS, String(app.port), `${topic}-base`],
      `http://127.0.0.1:${port}/none`,
      [404],
    );
    try {
      out.baseline = await measure(httpPublisher(`http://127.0.0.1:${port}/v1.0/publish/broker/${topic}-base`), app);
    } finally {
      await stop(b.proc);
    }
    return out;
  });
}

/**
 * One round of publish over gRPC against publish over HTTP: the same sidecar (pubsub.redis), the same
 * subscriber app and the same load, `PublishEvent` on the gRPC port then `POST /v1.0/publish` on the HTTP
 * port, one after the other on the same topic (which goes first alternates with `grpcFirst`).
 */
export async function pubsubGrpcRound(ctx, grpcFirst) {
  return withSubscriber((app, topic) =>
    withSidecar(ctx, app, async (m) => {
      const out = {};
      const grpc = (opts) => measure(grpcPublisher(m.grpcPort, 'store', topic), app, opts);
      const http = (opts) => measure(httpPublisher(`http://127.0.0.1:${m.port}/v1.0/publish/store/${topic}`), app, opts);
      // Both paths warmed up first (JIT, the broker's connections, the delivery loop), so that neither
      // measured pass pays for it: the first pass of a fresh sidecar otherwise reads about half the second.
      await grpc({ samples: 50, n: 1000 });
      await http({ samples: 50, n: 1000 });
      if (grpcFirst) {
        out.grpc = await grpc();
        out.http = await http();
      } else {
        out.http = await http();
        out.grpc = await grpc();
      }
      return out;
    }),
  );
}
