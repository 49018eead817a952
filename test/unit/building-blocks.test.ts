/**
 * The building-block table agrees with `wit/` and is what the loader, the toolchain and the sandbox read.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BLOCKS, BUILDING_BLOCKS, COMPONENT_WORLDS, LIFECYCLE, plannedInvokeOf, plannedReadOf } from '../../host/src/building-blocks.js';
import { worldExported, worldExports } from '../../host/src/cli/component.js';
import { blockOf, checkTypesMatchBlock } from '../../host/src/components/build-check.js';
import { HOST_METADATA } from '../../host/src/components/registry.js';
import { PACKAGE_ROOT, WORLDS } from '../../host/src/components/toolchain.js';
import { MortarError } from '../../host/src/errors.js';

/** What a transpiled component built for `world` lists as its exports (jco's names and the WIT names). */
function exportsOf(world: (typeof COMPONENT_WORLDS)[number]): string[] {
  const interfaces: Readonly<Record<string, string>> = BLOCKS[world.block].interfaces;
  return [
    LIFECYCLE.js,
    ...world.exports.map((i) => interfaces[i]!),
    `mortar:component/${LIFECYCLE.wit}@0.1.0`,
    ...world.exports.map((i) => `mortar:component/${i}@0.1.0`),
  ];
}

it('every world of the table is in wit/ and exports lifecycle and exactly the interfaces its row names, by the names jco gives them', () => {
  for (const w of COMPONENT_WORLDS) {
    const interfaces: Readonly<Record<string, string>> = BLOCKS[w.block].interfaces;
    assert.deepEqual(Object.keys(worldExports(w.world)).sort(), [LIFECYCLE.js, ...w.exports.map((i) => interfaces[i])].sort(), w.world);
  }
});

it('each world has its host types generated in host/generated/, and each block its default world among its own', () => {
  for (const w of COMPONENT_WORLDS) assert.ok(existsSync(join(PACKAGE_ROOT, 'host/generated', `${w.world}.d.ts`)), w.world);
  for (const b of BUILDING_BLOCKS)
    assert.ok(
      b.worlds.some((w) => w.world === b.defaultWorld),
      b.id,
    );
});

it('a component built for any world of a block is recognised as that block; its types must carry the block prefix', () => {
  for (const w of COMPONENT_WORLDS) {
    assert.equal(blockOf(exportsOf(w), 'x.wasm'), w.block, w.world);
    checkTypesMatchBlock([`${BLOCKS[w.block].typePrefix}x`], w.block, 'x.wasm');
    const other = BUILDING_BLOCKS.find((b) => b.id !== w.block)!;
    assert.throws(
      () => checkTypesMatchBlock([`${other.typePrefix}x`], w.block, 'x.wasm'),
      (err: unknown) =>
        err instanceof MortarError && err.message.includes(`but was built for the ${BLOCKS[w.block].defaultWorld} world (it serves ${w.block} only)`),
    );
  }
  assert.throws(
    () => blockOf(['lifecycle', 'mortar:component/lifecycle@0.1.0'], 'x.wasm'),
    (err: unknown) =>
      err instanceof MortarError &&
      err.message.includes(
        'it exports no building block this sidecar serves (expected mortar:component/state-store, mortar:component/pubsub, mortar:component/output-binding or mortar:component/input-binding)',
      ),
  );
  assert.throws(
    () => blockOf(['pubsub', 'mortar:component/pubsub@0.1.0'], 'x.wasm'),
    (err: unknown) => err instanceof MortarError && err.message.includes('it does not export mortar:component/lifecycle'),
  );
});

it('the planned read of the state block names functions its worlds export, and only a component exporting the plan gets it', () => {
  const plan = BLOCKS.state.plannedRead;
  const planned = worldExports('planned-state-store-component');
  assert.ok(planned[plan.iface]?.includes(plan.single) && planned[plan.iface]?.includes(plan.batch));
  assert.deepEqual(planned[plan.plan]?.sort(), ['finish', 'plan']);
  for (const world of ['planned-state-store-component', 'planned-listing-state-store-component'])
    assert.equal(plannedReadOf(exportsOf(COMPONENT_WORLDS.find((w) => w.world === world)!)), plan, world);
  for (const w of COMPONENT_WORLDS.filter((x) => !x.world.startsWith('planned-') || x.block !== 'state'))
    assert.equal(plannedReadOf(exportsOf(w)), undefined, w.world);
});

it('the planned invocation of the bindings block names a function its worlds export, and only a component exporting the plan gets it', () => {
  const plan = BLOCKS.bindings.plannedInvoke;
  const planned = worldExports('planned-output-binding-component');
  assert.ok(planned[plan.iface]?.includes(plan.fn));
  assert.deepEqual(planned[plan.plan]?.sort(), ['finish', 'plan']);
  assert.equal(plannedInvokeOf(exportsOf(COMPONENT_WORLDS.find((w) => w.world === 'planned-output-binding-component')!)), plan);
  for (const w of COMPONENT_WORLDS.filter((x) => x.world !== 'planned-output-binding-component'))
    assert.equal(plannedInvokeOf(exportsOf(w)), undefined, w.world);
});

it('the toolchain, the CLI and the registry read the table: build names, worlds and host metadata keys', () => {
  assert.deepEqual(WORLDS, {
    state: 'state-store-component',
    'listing-state': 'listing-state-store-component',
    'planned-state': 'planned-state-store-component',
    'planned-listing-state': 'planned-listing-state-store-component',
    pubsub: 'pubsub-component',
    bindings: 'binding-component',
    'output-binding': 'output-binding-component',
    'planned-output-binding': 'planned-output-binding-component',
    'input-binding': 'input-binding-component',
  });
  assert.deepEqual(Object.fromEntries(Object.entries(HOST_METADATA).map(([k, v]) => [k, [...v]])), {
    state: ['keyPrefix', 'actorStateStore'],
    pubsub: ['allowedTopics', 'publishingScopes', 'subscriptionScopes', 'protectedTopics'],
    bindings: ['direction', 'route'],
  });
});

it('mortar component build without --block picks the world of the table an entry exports everything of, the fullest first', () => {
  const src = (...names: string[]) => names.map((n) => `export const ${n} = {};`).join('\n');
  assert.equal(worldExported(src('lifecycle', 'stateStore')), 'state');
  assert.equal(worldExported(src('lifecycle', 'stateStore', 'readPlan')), 'planned-state');
  assert.equal(worldExported(src('lifecycle', 'stateStore', 'keyListing')), 'listing-state');
  assert.equal(worldExported(src('lifecycle', 'stateStore', 'readPlan', 'keyListing')), 'planned-listing-state');
  assert.equal(worldExported(src('lifecycle', 'pubsub')), 'pubsub');
  assert.equal(worldExported(src('lifecycle', 'outputBinding')), 'output-binding');
  assert.equal(worldExported(src('lifecycle', 'inputBinding')), 'input-binding');
  assert.equal(worldExported(src('lifecycle', 'outputBinding', 'invokePlan')), 'planned-output-binding');
  assert.equal(worldExported(src('lifecycle', 'outputBinding', 'inputBinding')), 'bindings');
  assert.equal(worldExported(src('lifecycle')), 'state');
});
