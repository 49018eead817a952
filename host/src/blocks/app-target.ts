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
  /** Calls the app; rejects on network errors and when no answer came within `timeoutMs`. */
  request(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>, timeoutMs: number): Promise<AppAnswer>;
  /** App health: true while the app is unhealthy (`--enable-app-health-check`), when deliveries pause as in daprd. */
  paused(): boolean;
}
