/**
 * Dapr's output bindings API (`POST|PUT /v1.0/bindings/{name}`, spec 1.5; daprd `onOutputBindingMessage`):
 * translation only. The body `{data, metadata, operation}` is decoded as Go decodes daprd's
 * `OutputBindingRequest` (field names case-insensitive, `metadata` a `map[string]string`), `data` is
 * re-marshalled as Go re-marshals it, and the service's answer becomes 200 with the data and
 * `metadata.<k>` headers, or 204.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MortarError } from '../../errors.js';
import type { UniversalApi } from '../universal/universal-api.js';
import type { Caller } from '../universal/caller.js';
import { goFields, goMarshal, parseRequestJson } from '../../request-json.js';

const FIELDS = ['data', 'metadata', 'operation'] as const;

/** A body daprd cannot decode: 400, `failed deserializing HTTP body: ...`. */
function malformed(why: string): MortarError {
  return new MortarError('ERR_MALFORMED_REQUEST', [`failed deserializing HTTP body: ${why}`]);
}

/** The request as daprd's `OutputBindingRequest`: operation, data re-marshalled, metadata. */
export function parseOutputBindingBody(raw: Buffer | undefined): { operation: string; data: Buffer; metadata: Record<string, string> } {
  let body: unknown;
  try {
    body = parseRequestJson((raw ?? Buffer.alloc(0)).toString('utf8'));
  } catch (err) {
    throw malformed((err as Error).message);
  }
  if (body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw malformed(`cannot unmarshal ${Array.isArray(body) ? 'array' : typeof body} into an output binding request object`);
  }
  const f = body === null ? {} : goFields(body, FIELDS);
  let operation = '';
  if (f.operation !== undefined && f.operation !== null) {
    if (typeof f.operation !== 'string') throw malformed(`'operation' must be a string, not ${Array.isArray(f.operation) ? 'an array' : typeof f.operation}`);
    operation = f.operation;
  }
  const metadata: Record<string, string> = {};
  if (f.metadata !== undefined && f.metadata !== null) {
    if (typeof f.metadata !== 'object' || Array.isArray(f.metadata)) throw malformed("'metadata' must be an object of strings");
    for (const [k, v] of Object.entries(f.metadata as Record<string, unknown>)) {
      // Go's `map[string]string`: a null value decodes to the empty string; any other non-string is an error.
      if (v === null) metadata[k] = '';
      else if (typeof v === 'string') metadata[k] = v;
      else throw malformed(`metadata '${k}' must be a string, not ${Array.isArray(v) ? 'an array' : typeof v}`);
    }
  }
  return { operation, data: Buffer.from(goMarshal(f.data)), metadata };
}

/** Header names and values Node can send; an entry that is neither is left out rather than failing the answer. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The `POST|PUT /v1.0/bindings/:name` routes: decode, `invokeBinding`, encode. */
export function bindingsRoutes(api: UniversalApi, caller: (req: FastifyRequest) => Caller) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const handler = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
      const { operation, data, metadata } = parseOutputBindingBody(req.body as Buffer | undefined);
      const header = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      const res = await api.invokeBinding(caller(req), {
        name: req.params.name,
        operation,
        data,
        metadata,
        traceparent: header('traceparent'),
        tracestate: header('tracestate'),
      });
      if (!res) return reply.code(204).send();
      for (const [k, v] of Object.entries(res.metadata)) {
        const name = `metadata.${k}`;
        if (HEADER_NAME.test(name) && HEADER_VALUE.test(v)) reply.header(name, v);
      }
      return reply
        .code(200)
        .header('content-type', res.contentType || 'application/json')
        .send(Buffer.from(res.data));
    };
    for (const method of ['POST', 'PUT'] as const) app.route({ method, url: '/v1.0/bindings/:name', handler });
  };
}
