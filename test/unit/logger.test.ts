/**
 * MORTAR_LOG_FORMAT=text: one plain line per record, the message first, fields the message does not
 * already say as key=value, and never a JSON object.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const LOGGER = new URL('../../host/src/logger.js', import.meta.url).href;

function textLogs(script: string): string[] {
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `import { createLogger } from ${JSON.stringify(LOGGER)};\nconst log = createLogger('debug', 'orders');\n${script}`],
    {
      encoding: 'utf8',
      env: { ...process.env, MORTAR_LOG_FORMAT: 'text' },
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

it('text log lines do not repeat their fields as JSON: fields the message says are dropped, others follow as key=value', () => {
  const lines = textLogs(`
log.info({ port: 3000 }, 'app is reachable on port 3000');
log.warn({ file: '/res/a.yaml', field: 'metadata.name', reason: 'duplicate of b.yaml' }, 'resource refused');
log.error({ code: 'ERR_INTERNAL', err: 'internal error: boom' }, 'internal error: boom');
log.debug({ flags: ['config', 'metrics-port'], err: new Error('went wrong') }, 'two fields');
log.warn({ flags: ['--config x', '--mode y'] }, 'not applied: --config x, --mode y');
`);
  assert.deepEqual(lines, [
    'INFO  app is reachable on port 3000',
    'WARN  resource refused file=/res/a.yaml field=metadata.name reason="duplicate of b.yaml"',
    'ERROR internal error: boom code=ERR_INTERNAL',
    'DEBUG two fields flags=config,metrics-port err="went wrong"',
    'WARN  not applied: --config x, --mode y',
  ]);
  for (const l of lines) assert.ok(!l.includes('{'), `no JSON in: ${l}`);
});
