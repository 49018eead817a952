import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Creates the process logger. Lines are JSON (pino) on stdout; `MORTAR_LOG_FORMAT=text` gives one plain
 * line per record for humans (see {@link textLine}), without pulling in a pretty-printer.
 */
export function createLogger(level: LevelWithSilent = 'info', appId = ''): Logger {
  const base = { app_id: appId || undefined, scope: 'mortar' };
  if (process.env.MORTAR_LOG_FORMAT === 'text') {
    return pino(
      { level, base, timestamp: false },
      {
        write(line: string) {
          process.stdout.write(textLine(JSON.parse(line) as Record<string, unknown>));
        },
      },
    );
  }
  return pino({ level, base });
}

/**
 * Renders one pino record as a text line: `LEVEL message key=value ...`. The message already says most of
 * what the fields hold (`app is reachable on port 3000` carries `port: 3000`), so a field whose value the
 * message contains (a list: each of its items) is left out; the others follow as `key=value` pairs, a value quoted only when it has
 * spaces, quotes or `=`. Nothing is printed as JSON.
 */
export function textLine(rec: Record<string, unknown>): string {
  const { level, msg, app_id: _a, scope: _s, ...fields } = rec;
  const message = typeof msg === 'string' ? msg : '';
  const name = String(pino.levels.labels[level as number] ?? level).toUpperCase();
  let extra = '';
  for (const [key, value] of Object.entries(fields)) {
    const text = plain(value);
    if (text === '' || message.includes(text)) continue;
    if (Array.isArray(value) && value.every((v) => message.includes(plain(v)))) continue;
    extra += ` ${key}=${/^[^\s"'=]+$/.test(text) ? text : JSON.stringify(text)}`;
  }
  return `${name.padEnd(5)} ${message}${extra}\n`;
}

/** A field's value as plain text: lists comma-joined, a serialised Error by its message. */
function plain(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(plain).join(',');
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.message === 'string') return o.message;
    return Object.entries(o)
      .map(([k, v]) => `${k}:${plain(v)}`)
      .join(',');
  }
  return String(value);
}
