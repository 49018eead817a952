/**
 * The shapes of `mortar:component/invoke-plan` a planning output binding returns and receives, named from the
 * types generated from WIT (`components-wasm/generated/`), so a component's plan and finish are checked
 * against the contract.
 */
import type * as InvokePlan from 'mortar:component/invoke-plan@0.1.0';

/** One entry of `plan`'s answer: the invocation's I/O and context, `undefined` (serve it through `invoke`), or its error. */
export type Planned = ReturnType<typeof InvokePlan.plan>[number];
/** One reply `finish` decodes, with the context its plan gave. */
export type IoOutcome = Parameters<typeof InvokePlan.finish>[0][number];
/** One entry of `finish`'s answer: the invocation's result. */
export type Finished = ReturnType<typeof InvokePlan.finish>[number];
