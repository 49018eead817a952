/**
 * The delivery loop of one input binding: fetch events from the component (through its side instance),
 * hand each to the app as daprd does (`POST /<route>`, the event bytes as the body, its metadata as
 * headers; spec 1.14, `send.go sendBindingEventToApp`), and settle it with the component.
 *
 * At-least-once: an event is acked only after the app answered 2xx. A failed delivery (an error status, no
 * answer, no answer in time) is retried in place as the binding's inbound resiliency policy says (retry
 * back-off and status matching, per-attempt timeout, circuit breaker); an event still failing is nacked
 * with daprd's error text, and a source that keeps its events hands it out again later. While the inbound
 * breaker is open, or the app is unhealthy (`AppTarget.paused`), the loop fetches nothing. Backpressure: at
 * most `maxInFlight` events are with the app at once; the loop fetches only what it can take.
 */
import { Alarm } from '../../alarm.js';
import type { Logger } from '../../logger.js';
import type { ActiveComponent } from '../../components/registry.js';
import { grpcCodeOf, type AppTarget, type BindingAppAnswer } from '../app-target.js';
import { retriesGrpcStatus, retriesStatus } from '../resiliency/backoff.js';
import { sleep, type Policy } from '../resiliency/policy.js';
import { BindingClient, describeBindingError } from './binding-client.js';
import type { BindingEvent } from './binding-client.js';

/** What one loop serves and how. */
export interface InputLoopOptions {
  readonly component: ActiveComponent;
  /** The app path events go to (`/` included). */
  readonly path: string;
  readonly app: AppTarget;
  readonly logger: Logger;
  /** The inbound resiliency policy in force, read for every event (a reloaded policy applies at once). */
  readonly policy: () => Policy;
  readonly maxInFlight: number;
  /** How long the app may take to answer one delivery when the policy sets no timeout. */
  readonly appTimeoutMs: number;
  /**
   * Acts on what the app asked for in its answer (`AppAnswer.binding`: send data to output bindings), before the
   * event is acknowledged; resolves when the event may be; never rejects.
   */
  readonly onAppAnswer?: (binding: string, answer: BindingAppAnswer) => Promise<void>;
}

/** Longest a fetch may block in the component waiting for the first event. */
const LONG_POLL_MS = 1000;
/** A source that cannot block is polled this often while idle. */
const IDLE_POLL_MS = 100;
/** Delay before a nacked event comes back, where the source can honour one. */
export const NACK_DELAY_MS = 1000;
/** How much of an app's error answer the nack reason quotes. */
const MAX_BODY_IN_ERROR = 1024;
/** Longest back-off between failed `open`/`fetch` calls. */
const MAX_FAILURE_BACKOFF_MS = 5000;

/** An attempt's result: `error` is set when the app did not take the event (daprd's wording). */
interface Attempt {
  readonly ok: boolean;
  readonly status?: number;
  /** The gRPC status of a gRPC app's error. */
  readonly grpcCode?: number;
  readonly error?: string;
  readonly answer?: BindingAppAnswer;
}

/** The loop of one input binding version (see the file comment); `start` once, `stop` once. */
export class InputLoop {
  readonly #o: InputLoopOptions;
  readonly #client: BindingClient;
  #stopped = false;
  #opened = false;
  #inflight = 0;
  #acks: string[] = [];
  /** Nacks by error text (one `nack` call per distinct reason). */
  #nacks = new Map<string, string[]>();
  readonly #alarm = new Alarm();
  #done?: Promise<void>;
  /**
   * The component runs in one instance (max-instances 1) that also serves `invoke`: its fetch never waits
   * in the component (an output call would wait behind it); the loop polls instead.
   */
  readonly #sharedInstance: boolean;

  constructor(opts: InputLoopOptions) {
    this.#o = opts;
    this.#client = new BindingClient(opts.component);
    this.#sharedInstance = opts.component.module.descriptor.maxInstances === 1 && this.#client.isOutput;
  }

  get component(): ActiveComponent {
    return this.#o.component;
  }
  get name(): string {
    return this.#o.component.name;
  }

  /** Starts the loop: `open` (retried with back-off while it fails), then fetch and deliver until `stop`. */
  start(): void {
    this.#done = this.#run();
  }

  /** Wakes an idle loop. */
  kick(): void {
    this.#alarm.wake();
  }

  /** Stops fetching, waits (up to `graceMs`) for deliveries in flight, settles them and closes the binding. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopped = true;
    this.kick();
    await this.#done;
    const deadline = Date.now() + graceMs;
    while (this.#inflight > 0 && Date.now() < deadline) await sleep(10);
    await this.#settle().catch(() => undefined);
    if (this.#opened) await this.#client.close().catch(() => undefined);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      try {
        if (!this.#opened) {
          await this.#client.open();
          this.#opened = true;
          this.#o.logger.info({ binding: this.name, route: this.#o.path }, `input binding ${this.name} reading; events go to POST ${this.#o.path}`);
        }
        await this.#settle();
        const open = this.#o.policy().breaker?.openForMs() ?? 0;
        if (open > 0) {
          await this.#idle(Math.min(open, LONG_POLL_MS));
          continue;
        }
        if (this.#o.app.paused()) {
          await this.#idle(IDLE_POLL_MS);
          continue;
        }
        const room = this.#o.maxInFlight - this.#inflight;
        if (room <= 0) {
          await this.#idle(50);
          continue;
        }
        const wait = this.#inflight > 0 || this.#sharedInstance ? 0 : LONG_POLL_MS;
        const t0 = performance.now();
        const got = await this.#client.fetch(Math.min(room, 256), wait);
        failures = 0;
        const paused = this.#o.app.paused();
        if (this.#stopped || paused) {
          // Stopped, or the app found unhealthy, while the fetch waited: give these back rather than deliver
          // them (a source that cannot take an event back, a schedule, drops it: daprd fires no paused binding).
          const why = this.#stopped ? 'the sidecar is stopping' : 'the app is unhealthy';
          if (got.length > 0)
            await this.#client
              .nack(
                got.map((e) => e.receipt),
                why,
                0,
              )
              .catch(() => undefined);
          if (paused && !this.#stopped) continue;
          break;
        }
        for (const e of got) this.#dispatch(e);
        if (got.length === 0) {
          if (this.#inflight > 0) await this.#idle(10);
          else if (wait === 0 || performance.now() - t0 < wait / 2) await this.#idle(IDLE_POLL_MS);
        }
      } catch (err) {
        if (this.#stopped) break;
        failures++;
        const delay = Math.min(MAX_FAILURE_BACKOFF_MS, 100 * 2 ** Math.min(failures, 6));
        const what = this.#opened ? 'fetch' : 'open';
        this.#o.logger.warn(
          { binding: this.name, err: describeBindingError(err) },
          `input binding ${this.name}: ${what} failed: ${describeBindingError(err)}; retrying in ${delay}ms`,
        );
        await this.#idle(delay);
      }
    }
  }

  #idle(ms: number): Promise<void> {
    return this.#alarm.sleep(ms);
  }

  async #settle(): Promise<void> {
    if (this.#acks.length > 0) {
      const acks = this.#acks;
      this.#acks = [];
      try {
        await this.#client.ack(acks);
      } catch (err) {
        // Not acked: a source that keeps events hands these out again (at-least-once).
        this.#o.logger.warn(
          { binding: this.name, count: acks.length, err: describeBindingError(err) },
          `input binding ${this.name}: ack failed; the source may redeliver`,
        );
      }
    }
    if (this.#nacks.size > 0) {
      const nacks = this.#nacks;
      this.#nacks = new Map();
      for (const [error, receipts] of nacks) await this.#client.nack(receipts, error, NACK_DELAY_MS).catch(() => undefined);
    }
  }

  #settleOne(e: BindingEvent, error: string | undefined): void {
    if (error === undefined) this.#acks.push(e.receipt);
    else {
      const list = this.#nacks.get(error) ?? [];
      list.push(e.receipt);
      this.#nacks.set(error, list);
    }
    this.#inflight--;
    this.kick();
  }

  #dispatch(e: BindingEvent): void {
    this.#inflight++;
    void this.#deliver(e).then(
      (error) => this.#settleOne(e, error),
      (err: unknown) => {
        this.#o.logger.error({ binding: this.name, err: String(err) }, 'input binding delivery failed unexpectedly');
        this.#settleOne(e, String(err));
      },
    );
  }

  /** Delivers one event with the policy's retries; resolves undefined to ack, or the error to nack with. */
  async #deliver(e: BindingEvent): Promise<string | undefined> {
    const headers: Record<string, string> = {};
    for (const [k, v] of e.metadata) headers[k] = v;
    headers['content-type'] = e.contentType || 'application/json';
    const body = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    const policy = this.#o.policy();
    const backoff = policy.backoff();
    for (;;) {
      // An open breaker: the app is not tried; the source hands the event out again later.
      if (policy.breaker && !policy.breaker.allow()) return `circuit breaker ${policy.breaker.name} is open`;
      const a = await this.#post(body, headers, policy);
      policy.breaker?.record(a.ok);
      if (a.ok) {
        if (a.answer && this.#o.onAppAnswer) await this.#o.onAppAnswer(this.name, a.answer);
        return undefined;
      }
      const unmatched =
        policy.retry !== undefined &&
        ((a.status !== undefined && !retriesStatus(policy.retry, a.status)) || (a.grpcCode !== undefined && !retriesGrpcStatus(policy.retry, a.grpcCode)));
      const wait = this.#stopped || unmatched ? undefined : backoff?.next();
      if (wait === undefined) {
        this.#o.logger.debug({ binding: this.name, err: a.error }, `input binding ${this.name}: ${a.error}; handed back to the component`);
        return a.error!;
      }
      await sleep(wait);
    }
  }

  async #post(body: Buffer, headers: Record<string, string>, policy: Policy): Promise<Attempt> {
    try {
      const res = await this.#o.app.request('POST', this.#o.path, body, headers, policy.timeoutMs ?? this.#o.appTimeoutMs);
      if (res.status >= 200 && res.status <= 299) return { ok: true, answer: res.binding };
      return {
        ok: false,
        status: res.status,
        error: `fails to send binding event to http app channel, status code: ${res.status} body: ${res.body.subarray(0, MAX_BODY_IN_ERROR).toString('utf8')}`,
      };
    } catch (err) {
      return { ok: false, grpcCode: grpcCodeOf(err), error: `error invoking app: ${(err as Error).message}` };
    }
  }
}
