import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MortarError } from '../errors.js';
import type { Logger } from '../logger.js';
import { InstancePool } from './sandbox/pool.js';
import { serveBridge, type BridgeHost } from '../capabilities/bridge.js';
import type { TranspileCache, Artifact } from './transpile-cache.js';
import { checkDescriptor, type Block, type Descriptor } from './descriptor.js';
import { blockOf, checkImports, checkPreamble, checkTypesMatchBlock, explainDescribeFailure } from './build-check.js';
import { LifecycleClient } from './lifecycle-client.js';

/** A loaded `.wasm` file: its transpiled artifact and what it declares. */
export interface ComponentModule {
  readonly file: string;
  readonly artifact: Artifact;
  readonly descriptor: Descriptor;
  readonly block: Block;
  readonly builtin: boolean;
}

/** The host of a component being described: it may call no host import. */
const NO_HOST: BridgeHost = {
  attach: (bridge, reply) =>
    serveBridge(bridge, reply, {
      dispatch: () => Promise.reject({ tag: 'access-denied', val: 'describe() may not call host imports' }),
      log: () => undefined,
      close: async () => undefined,
    }),
  close: async () => undefined,
};

/**
 * Loads `.wasm` components: transpile (cached), check the world they implement, and ask them to describe
 * themselves in a throwaway sandbox. The descriptor is cached beside the transpiled artifact.
 */
export class ComponentLoader {
  constructor(
    readonly cache: TranspileCache,
    readonly logger: Logger,
    readonly callTimeoutMs: number,
    readonly memoryLimitBytes: number,
  ) {}

  async load(file: string, builtin: boolean): Promise<ComponentModule> {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      throw new MortarError('ERR_WASM_INVALID', [file, (err as Error).message]);
    }
    // How it was built is checked first, so a toolchain mistake is refused with how to build it right.
    checkPreamble(bytes, file);
    const artifact = await this.cache.get(bytes, file);
    checkImports(artifact.imports, file);
    const block = blockOf(artifact.exports, file);
    const descriptor = await this.#describe(artifact, file);
    checkTypesMatchBlock(descriptor.types, block, file);
    return { file, artifact, descriptor, block, builtin };
  }

  async #describe(artifact: Artifact, file: string): Promise<Descriptor> {
    const cached = join(artifact.dir, 'descriptor.json');
    try {
      return JSON.parse(await readFile(cached, 'utf8')) as Descriptor;
    } catch {
      /* not described yet */
    }
    const pool = new InstancePool({
      name: `describe:${file}`,
      artifact,
      size: 1,
      callTimeoutMs: this.callTimeoutMs,
      memoryLimitBytes: this.memoryLimitBytes,
      host: NO_HOST,
      logger: this.logger,
    });
    let d: Descriptor;
    try {
      await pool.start();
      d = await new LifecycleClient(pool).describe();
    } catch (err) {
      const message = (err as Error).message;
      throw new MortarError('ERR_WASM_INVALID', [file, explainDescribeFailure(message) ?? `describe() failed: ${message}`]);
    } finally {
      await pool.close(0);
    }
    // The guest may answer anything: checked before it is believed.
    const problem = checkDescriptor(d);
    if (problem) throw new MortarError('ERR_WASM_INVALID', [file, problem]);
    await writeFile(cached, JSON.stringify(d)).catch(() => undefined);
    return d;
  }
}
