/** Output bindings (`mortar:app/bindings`). */
import * as wit from 'mortar:app/bindings@0.1.0';
import { type Body, json, pairs, text, toBytes } from './bytes.js';
import { call } from './errors.js';

/** A binding's answer. */
export class BindingResponse {
  constructor(
    readonly data: Uint8Array,
    readonly metadata: Record<string, string>,
    readonly contentType: string | undefined,
  ) {}
  text(): string {
    return text(this.data);
  }
  json<T = unknown>(): T {
    return json<T>(this.data, 'binding response');
  }
}

/**
 * Invokes operation `operation` of the output binding `name` with `data` (an object goes as JSON, as an HTTP
 * app's `data`); `undefined` when the operation answers nothing.
 */
export function invokeBinding(name: string, operation: string, data: Body = new Uint8Array(), metadata?: Record<string, string>): BindingResponse | undefined {
  const res = call(() => wit.invoke(name, { operation, data: toBytes(data).bytes, metadata: pairs(metadata) }));
  return res && new BindingResponse(res.data, Object.fromEntries(res.metadata), res.contentType);
}
