// Baseline for the pub/sub benchmark: what an app could do without mortar. A fastify server takes the same
// publish route and XADDs the CloudEvent with ioredis; a consumer loop does XREADGROUP BLOCK, POSTs each
// message to the same app and XACKs it. Usage: node pubsub-baseline.mjs <port> <redis host:port> <app port> <topic>
import Fastify from 'fastify';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

const [port, redisAddr, appPort, topic] = process.argv.slice(2);
const [host, rport] = redisAddr.split(':');
const pub = new Redis({ host, port: Number(rport) });
const sub = new Redis({ host, port: Number(rport) });
const group = `baseline-${randomUUID().slice(0, 8)}`;
await pub.xgroup('CREATE', topic, group, '$', 'MKSTREAM').catch(() => undefined);

const app = Fastify();
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, b, d) => d(null, b));
app.post('/v1.0/publish/:pubsub/:topic', async (req, reply) => {
  const event = `{"id":"${randomUUID()}","specversion":"1.0","datacontenttype":"application/json","source":"bench","type":"com.dapr.event.sent","topic":"${topic}","pubsubname":"broker","time":"${new Date().toISOString()}","data":${req.body.toString()}}`;
  await pub.xadd(topic, '*', 'data', event);
  return reply.code(204).send();
});
await app.listen({ port: Number(port), host: '127.0.0.1' });

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const post = (body) =>
  new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(appPort),
        method: 'POST',
        path: '/in',
        agent,
        headers: { 'content-type': 'application/cloudevents+json', pubsubname: 'broker', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
for (;;) {
  const r = await sub.xreadgroup('GROUP', group, 'c', 'COUNT', '64', 'BLOCK', '1000', 'STREAMS', topic, '>');
  if (!r) continue;
  const entries = r[0][1];
  await Promise.all(entries.map(([, fields]) => post(fields[1])));
  await sub.xack(topic, group, ...entries.map(([id]) => id));
}
