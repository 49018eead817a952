/**
 * What the blocks' delivery loops (pub/sub subscriptions, input bindings) need of the app channel: a call
 * to the app and whether deliveries are paused. `app-channel/http-channel.ts` implements it (and a gRPC
 * channel will), so the blocks depend on this shape, not on the channel above them.
 */

/** The app's answer to one call. */
export interface AppAnswer {
  readonly status: number;
  readonly body: Buffer;
}

export interface AppTarget {
  /**
   * Calls the app; rejects on network errors and when no answer came within `timeoutMs`. `event` is set for a
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
