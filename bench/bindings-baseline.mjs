// Baselines for the bindings benchmarks: what an app could do without mortar.
//   node bindings-baseline.mjs redis <port> <redis host:port>     fastify takes POST /v1.0/bindings/:name and SETs
//                                                                 metadata.key to the re-marshalled data (ioredis)
//   node bindings-baseline.mjs http <port> <target url>           fastify forwards the data to the target (undici)
//   node bindings-baseline.mjs target <port>                      the HTTP server both forward to: 200 with the body
//   node bindings-baseline.mjs rabbitmq <amqp url> <queue> <app port> <route>
//                                                                 an amqplib consumer POSTs each message to the
//                                                                 app and acks it after the app's 2xx
import http from 'node:http';
import Fastify from 'fastify';

const [mode, ...args] = process.argv.slice(2);

function bindingsServer(handle) {
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, b, d) => d(null, b));
  app.post('/v1.0/bindings/:name', async (req, reply) => {
    const body = JSON.parse(req.body.toString('utf8'));
    return handle(body, reply);
  });
  return app;
}

if (mode === 'redis') {
  const [port, redisAddr] = args;
  const { Redis } = await import('ioredis');
  const [host, p] = redisAddr.split(':');
  const redis = new Redis({ host, port: Number(p) });
  const app = bindingsServer(async (body, reply) => {
    await redis.set(body.metadata.key, JSON.stringify(body.data));
    return reply.code(204).send();
  });
  await app.listen({ port: Number(port), host: '127.0.0.1' });
} else if (mode === 'http') {
  const [port, target] = args;
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent({ connections: 64 });
  const app = bindingsServer(async (body, reply) => {
    const res = await request(target, { method: 'POST', body: JSON.stringify(body.data), headers: { 'content-type': 'application/json' }, dispatcher });
    const data = Buffer.from(await res.body.arrayBuffer());
    return reply.code(200).header('metadata.statusCode', String(res.statusCode)).type('application/json').send(data);
  });
  await app.listen({ port: Number(port), host: '127.0.0.1' });
} else if (mode === 'target') {
  const [port] = args;
  http
    .createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(Buffer.concat(chunks));
      });
    })
    .listen(Number(port), '127.0.0.1');
} else if (mode === 'rabbitmq') {
  const [url, queue, appPort, route] = args;
  const amqp = await import('amqplib');
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true });
  await ch.prefetch(64);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const post = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: Number(appPort),
          method: 'POST',
          path: route,
          agent,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  await ch.consume(queue, (m) => {
    if (!m) return;
    post(m.content).then(
      (status) => (status >= 200 && status < 300 ? ch.ack(m) : ch.nack(m, false, true)),
      () => ch.nack(m, false, true),
    );
  });
  // Ready: the consumer is registered.
  http
    .createServer((_q, r) => {
      r.statusCode = 204;
      r.end();
    })
    .listen(Number(process.env.READY_PORT), '127.0.0.1');
} else {
  throw new Error(`bindings-baseline: unknown mode ${mode}`);
}
process.on('SIGTERM', () => process.exit(0));
