import type { FastifyRequest } from 'fastify';
import { MortarError } from '../../errors.js';
import { goFields, parseRequestJson } from '../../request-json.js';

/** Dapr's `metadata.*` query convention: each `metadata.<k>` becomes `<k>`; only the first value counts. */
export function queryMetadata(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  const q = req.query as Record<string, string | string[] | undefined>;
  for (const [k, v] of Object.entries(q)) {
    if (!k.startsWith('metadata.') || v === undefined) continue;
    out[k.slice('metadata.'.length)] = Array.isArray(v) ? v[0]! : v;
  }
  return out;
}

/** The first value of a query parameter. */
export function queryValue(req: FastifyRequest, name: string): string | undefined {
  const v = (req.query as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Parses the raw body as JSON (nesting bounded by `MAX_JSON_DEPTH`); ERR_MALFORMED_REQUEST naming the parse
 * error otherwise.
 */
export function jsonBody(req: FastifyRequest): unknown {
  const raw = req.body as Buffer | undefined;
  if (!raw || raw.length === 0) throw new MortarError('ERR_MALFORMED_REQUEST', ['failed to parse request body: body is empty']);
  try {
    return parseRequestJson(raw.toString('utf8'));
  } catch (err) {
    throw new MortarError('ERR_MALFORMED_REQUEST', [`failed to parse request body as JSON: ${(err as Error).message}`]);
  }
}

/** A string map from an optional JSON object (component metadata); non-string values are stringified. */
export function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new MortarError('ERR_MALFORMED_REQUEST', [`'${field}' must be an object of strings`]);
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]));
}

/** An optional string field (Go `*string`): absent or null is undefined; any other JSON type is a 400. */
export function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw new MortarError('ERR_MALFORMED_REQUEST', [
      `failed to parse request body: '${field}' must be a string, not ${Array.isArray(v) ? 'an array' : typeof v}`,
    ]);
  return v;
}

/** A JSON object, decoded as Go decodes a struct: `names` matched case-insensitively (see `goFields`). */
export function objectFields<K extends string>(v: unknown, names: readonly K[]): { [P in K]?: unknown } | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? goFields(v, names) : undefined;
}
