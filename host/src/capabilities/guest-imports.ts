/**
 * A sandboxed instance's `mortar:host/*` imports, built from the capability shapes (`shapes.ts`): each free
 * function, static constructor and method forwards over the bridge as its operation (`opName`), under the name
 * jco calls it by. Loaded by sandbox workers: imports nothing but the shapes.
 */
import { CAPABILITY_SHAPES, dropOp, jcoClassName, jcoFunctionName, opName, type ResourceShape } from './shapes.js';

/** Performs one bridge operation and blocks until it answers (the worker's `bridgeCall`). */
export type BridgeCall = (op: string, args: unknown[]) => unknown;

/** Called with the arguments of every static constructor of `mortar:host/<capability>` that succeeded. */
export type OpenedHooks = Partial<Record<string, (args: unknown[]) => void>>;

/**
 * The class for an imported resource whose statics and methods all forward over the bridge. An instance holds
 * the host's handle; disposing it releases the handle on the host.
 */
export function bridgedResource(call: BridgeCall, capability: string, resource: string, shape: ResourceShape, opened?: (args: unknown[]) => void): unknown {
  const drop = dropOp(capability, resource);
  class Resource {
    readonly id: number;
    constructor(id: number) {
      this.id = id;
    }
    [Symbol.dispose](): void {
      try {
        call(drop, [this.id]);
      } catch {
        /* best effort */
      }
    }
  }
  for (const name of shape.statics) {
    const op = opName(capability, resource, name);
    Object.defineProperty(Resource, jcoFunctionName(name), {
      value: (...args: unknown[]) => {
        const handle = new Resource(call(op, args) as number);
        opened?.(args);
        return handle;
      },
    });
  }
  for (const name of shape.methods) {
    const op = opName(capability, resource, name);
    Object.defineProperty(Resource.prototype, jcoFunctionName(name), {
      value(this: Resource, ...args: unknown[]) {
        return call(op, [this.id, ...args]);
      },
    });
  }
  return Resource;
}

/** The bridged `mortar:host/*` imports, keyed as jco asks for them (`mortar:host/redis`). */
export function guestImports(call: BridgeCall, opened: OpenedHooks = {}): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [capability, shape] of Object.entries(CAPABILITY_SHAPES)) {
    const iface: Record<string, unknown> = {};
    for (const fn of shape.functions as readonly string[]) {
      const op = opName(capability, undefined, fn);
      iface[jcoFunctionName(fn)] = (...args: unknown[]) => call(op, args);
    }
    for (const [resource, r] of Object.entries(shape.resources as Readonly<Record<string, ResourceShape>>)) {
      iface[jcoClassName(resource)] = bridgedResource(call, capability, resource, r, opened[capability]);
    }
    out[`mortar:host/${capability}`] = iface;
  }
  return out;
}
