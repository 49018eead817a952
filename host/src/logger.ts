import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Creates the process logger. Lines are JSON (pino) on stdout; `MORTAR_LOG_FORMAT=text` gives one plain
 * line per record for humans, without pulling in a pretty-printer.
 */
export function createLogger(level: LevelWithSilent = 'info', appId = ''): Logger {
  const base = { app_id: appId || undefined, scope: 'mortar' };
  if (process.env.MORTAR_LOG_FORMAT === 'text') {
    return pino({ level, base, timestamp: false }, {
      write(line: string) {
        const rec = JSON.parse(line) as Record<string, unknown>;
        const { level: lvl, msg, app_id: _a, scope: _s, ...rest } = rec;
        const name = pino.levels.labels[lvl as number] ?? lvl;
        const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
        process.stdout.write(`${String(name).toUpperCase().padEnd(5)} ${msg as string}${extra}\n`);
      },
    });
  }
  return pino({ level, base });
}
