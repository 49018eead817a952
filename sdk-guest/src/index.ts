/**
 * mortar's guest SDK: the building blocks for a Wasm workload (`mortar:app`: state, pub/sub, output bindings,
 * metadata) and its HTTP side over `wasi:http` (routing, JSON bodies, Dapr subscriptions).
 *
 * ```ts
 * import { Router, serve, state } from '@mortar/guest';
 * const router = new Router().get('/hello', () => ({ body: { hello: 'world' } }));
 * export const incomingHandler = serve(router);
 * ```
 */
export { AppError, type AppErrorKind } from './errors.js';
export { type Body, json, text } from './bytes.js';
export { state, StateStore, StateItem, type SaveEntry, type TransactionOp, type WriteOptions } from './state.js';
export { pubsub, PubSub, type PublishOptions } from './pubsub.js';
export { invokeBinding, BindingResponse } from './bindings.js';
export { appId, sidecarMetadata, type SidecarMetadata } from './metadata.js';
export { MAX_BODY_BYTES, readRequest, serve, writeResponse } from './http.js';
export { HttpError, parseQuery, Router, type Handler, type Request, type Response } from './router.js';
export { Subscriptions, type EventHandler, type Settlement, type Subscription, type TopicEvent } from './subscriptions.js';
