/**
 * The TTL rule (`metadata.ttlInSeconds`), checked by the host once, before any component sees the value.
 *
 * - absent, empty or `-1`: no expiry;
 * - otherwise a whole number of seconds, 0 or more, written as Go's `strconv.ParseInt` reads it (`+5` is 5;
 *   `1.5`, `1e3`, ` 5`, `abc` and `-5` are not);
 * - publish also takes a Go duration (`10s`, `1m30s`), as Dapr documents for pub/sub;
 * - the expiry it gives (now + TTL) must not fall after 9999-12-31T23:59:59Z, the last instant RFC 3339
 *   (and so `ttlExpireTime`) can write;
 * - at most {@link MAX_TTL_CHARS} characters, so no check on client input takes more than a moment.
 *
 * Anything else is the caller's mistake: {@link InvalidTtl}, which each building block reports as its 400.
 */
import { parseDuration } from '../duration.js';

/** The metadata key, as Dapr spells it. */
export const TTL_KEY = 'ttlInSeconds';

/** The latest expiry allowed: 9999-12-31T23:59:59Z, in ms since the epoch. */
export const MAX_EXPIRY_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * The longest `ttlInSeconds` value looked at: any valid TTL is far shorter (the latest expiry is 12 digits of
 * seconds away), and a longer one is refused before any pattern is tried on it.
 */
export const MAX_TTL_CHARS = 32;

/** A `ttlInSeconds` value outside the rule; the message names the field and says why. */
export class InvalidTtl extends Error {}

/** A TTL that passed the rule: `undefined` for no expiry. */
export type Ttl = { readonly ms: number } | undefined;

/**
 * Checks `metadata.ttlInSeconds`. `durations`: a Go duration is allowed too (publish). Throws {@link InvalidTtl}.
 */
export function checkTtl(raw: string | undefined, opts: { durations?: boolean; now?: number } = {}): Ttl {
  if (raw === undefined || raw === '' || raw === '-1') return undefined;
  if (raw.length > MAX_TTL_CHARS) {
    throw new InvalidTtl(`metadata.${TTL_KEY}: '${raw.slice(0, MAX_TTL_CHARS)}...' is longer than ${MAX_TTL_CHARS} characters`);
  }
  let ms: number | undefined;
  if (/^\+?\d+$/.test(raw)) ms = Number(raw) * 1000;
  else if (opts.durations && !/^[+-]/.test(raw) && raw.trim() === raw) ms = parseDuration(raw);
  if (ms === undefined) {
    const form = opts.durations ? 'a whole number of seconds (or a duration such as 10s)' : 'a whole number of seconds';
    throw new InvalidTtl(`metadata.${TTL_KEY}: '${raw}' is not ${form}, 0 or more, or -1 for no expiry`);
  }
  const now = opts.now ?? Date.now();
  if (!(now + ms <= MAX_EXPIRY_MS)) {
    throw new InvalidTtl(
      `metadata.${TTL_KEY}: ${raw} puts the expiry after 9999-12-31T23:59:59Z (at most ${Math.floor((MAX_EXPIRY_MS - now) / 1000)} seconds from now)`,
    );
  }
  return { ms };
}

/**
 * The metadata a component receives for a checked TTL: `ttlInSeconds` as plain whole seconds (a duration
 * rounded up, `+5` written `5`), or removed when there is no expiry (-1) unless `keepNone` (state stores read
 * an explicit -1 as "no expiry, even over the store's default TTL").
 */
export function withCheckedTtl(metadata: Record<string, string>, ttl: Ttl, keepNone: boolean): Record<string, string> {
  if (!(TTL_KEY in metadata)) return metadata;
  const out = { ...metadata };
  if (ttl !== undefined) out[TTL_KEY] = String(Math.ceil(ttl.ms / 1000));
  else if (keepNone && metadata[TTL_KEY] === '-1') out[TTL_KEY] = '-1';
  else delete out[TTL_KEY];
  return out;
}
