/**
 * What the blocks' delivery loops (pub/sub subscriptions, input bindings) need of the app channel: a call
 * to the app and whether deliveries are paused. `app-channel/http-channel.ts`, `grpc-channel.ts` and
 * `workload-channel.ts` (a `mortar up` workload, in process) implement it, so the blocks depend on this shape,
 * not on the channels above them.
 */

/** The app's answer to one call. */
export interface AppAnswer {
  readonly status: number;
  readonly body: Buffer;
  /**
   * What the app asked the sidecar to do with an input binding event it took (the gRPC `BindingEventResponse`;
   * daprd reads it from gRPC apps only, an HTTP app's answer body is not read). Absent when it asked nothing.
   */
  readonly binding?: BindingAppAnswer;
}

/**
 * The fields of a gRPC app's `BindingEventResponse` daprd acts on (`send.go sendBindingEventToApp`,
 * `onAppResponse`): send `data` to each output binding of `to` with operation `create`.
 */
export interface BindingAppAnswer {
  /** Output bindings to send `data` to. */
  readonly to: readonly string[];
  /** The answer's `data` bytes as the app sent them. */
  readonly data: Uint8Array;
  /**
   * `sequential` (the default): one binding after the other, stopping at the first failure, before the event
   * is acknowledged; `parallel`: all at once, not waited for. A failure never fails the event (it is logged).
   */
  readonly concurrency: 'sequential' | 'parallel';
  /**
   * `store_name` and the number of `states` the app answered. daprd has not saved them since 1.3 (it stopped
   * reading them, over gRPC and HTTP alike); neither does mortar, which logs that they were left unsaved.
   */
  readonly storeName: string;
  readonly states: number;
}

export interface AppTarget {
  /**
   * Calls the app; rejects on network errors and when no answer came within `timeoutMs`, and the gRPC channel
   * when the app answered an error (see `grpcCodeOf`: the delivery loops match it against the retry policy's
   * `matching.gRPCStatusCodes`, as daprd does for a gRPC app). `event` is set for a
   * pub/sub delivery: the topic the message came from (which the CloudEvent's own `topic` need not be, as for
   * a dead letter); the HTTP channel ignores it, the gRPC one sends it as `TopicEventRequest.topic`.
   */
  request(
    method: string,
    path: string,
    body: Buffer | undefined,
    headers: Record<string, string>,
    timeoutMs: number,
    event?: { readonly topic: string },
  ): Promise<AppAnswer>;
  /** App health: true while the app is unhealthy (`--enable-app-health-check`), when deliveries pause as in daprd. */
  paused(): boolean;
  /**
   * True when the channel addresses input bindings by their name (gRPC `OnBindingEvent`): the loops then
   * call `/<name>`, not the binding's `route` metadata (which only HTTP uses, as in daprd).
   */
  readonly bindingsByName?: boolean;
}

/**
 * The gRPC status code of a rejected `AppTarget.request` (a @grpc/grpc-js `ServiceError`, whose `code` is a
 * number), or undefined for any other failure (network errors of the HTTP channel have string codes).
 */
export function grpcCodeOf(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}
