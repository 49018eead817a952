/**
 * A sleep that can be cut short: what a loop waits on between turns (a delivery loop idling until the next
 * fetch, a buffer waiting for its first item), woken at once when there is work.
 */
export class Alarm {
  #wake?: () => void;

  /** Resolves after `ms`, or as soon as `wake` is called. One sleep at a time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Ends the sleep under way now, if there is one. */
  wake(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
}
