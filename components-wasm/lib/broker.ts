/**
 * Helpers the broker components share: metadata parsing in Dapr's formats and the bookkeeping for brokers
 * that cannot delay a redelivery themselves.
 */
import type * as P from 'mortar:component/pubsub@0.1.0';
import { pubsubError } from './guest.js';

/** Bulk publish for brokers without a batch operation: one by one, collecting the entries that failed. */
export function publishEach(rs: P.PublishRequest[], publish: (r: P.PublishRequest) => void): P.BulkFailure[] {
  const failed: P.BulkFailure[] = [];
  rs.forEach((r, i) => {
    try {
      publish(r);
    } catch (err) {
      failed.push({ index: i, error: String((err as { val?: string }).val ?? err) });
    }
  });
  return failed;
}

/** Parses a Go-style duration (`60s`, `500ms`, `1m`, `1h30m`) or plain milliseconds; throws invalid-metadata. */
export function durationMs(raw: string | undefined, fallback: number, field: string): number {
  if (raw === undefined || raw === '') return fallback;
  const text = raw.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  let rest = text;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw { tag: 'invalid-metadata', val: `${field}: '${raw}' is not a duration such as 60s, 500ms or 1m30s` };
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** Reads a boolean metadata value as Go's `strconv.ParseBool` would (the schema has already checked it). */
export function flag(m: Record<string, string>, key: string, fallback: boolean): boolean {
  const v = m[key];
  if (v === undefined || v === '') return fallback;
  return /^(1|t|true)$/i.test(v.trim());
}

/** Throws an invalid-argument pubsub-error for an empty topic. */
export function requireTopic(topic: string): void {
  if (topic === '') throw pubsubError('invalid-argument', 'topic is empty');
}

/**
 * Deliveries nacked with a delay, for brokers that would hand them out again at once: kept until due.
 * `due(now)` returns (and forgets) the ones whose delay has passed, oldest first.
 */
export class DelayedSettlements<T> {
  #items: Array<{ at: number; item: T }> = [];

  get size(): number {
    return this.#items.length;
  }

  add(item: T, at: number): void {
    this.#items.push({ at, item });
  }

  due(now: number): T[] {
    if (this.#items.length === 0) return [];
    const out: T[] = [];
    this.#items = this.#items.filter((x) => {
      if (x.at > now) return true;
      out.push(x.item);
      return false;
    });
    return out;
  }

  /** Forgets everything (the connection that owned these deliveries is gone). */
  clear(): void {
    this.#items = [];
  }
}
