/**
 * The HTTP API's listeners stay up through an error after they listen (a failed accept: EMFILE).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fastify } from 'fastify';
import { pino } from 'pino';
import { listenOnAll } from '../../host/src/api/http/listen.js';

it('listen: an error event after listening (EMFILE on accept) is logged, does not end the process, and the API keeps serving', async () => {
  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        lines.push(line);
      },
    },
  );
  const app = fastify();
  app.get('/ok', async () => 'ok');
  try {
    const l = await listenOnAll(app, 0, ['127.0.0.1'], logger);
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    // With no 'error' listener, emit throws the error: in the server, an uncaught exception.
    assert.doesNotThrow(() => app.server.emit('error', emfile));
    assert.equal(lines.length, 1);
    assert.match(JSON.parse(lines[0]!).msg as string, /HTTP API listener on 127\.0\.0\.1 port \d+: accept EMFILE/);
    assert.equal(await (await fetch(`http://${l.addresses[0]}/ok`)).text(), 'ok');
    l.close();
  } finally {
    await app.close();
  }
});
