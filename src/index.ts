/**
 * tsbpf: build, test and run eBPF tail-call pipelines from TypeScript.
 * This file only re-exports what users need; see docs/architecture.md for the layers.
 * `Collection.load` is the one way to load an object into an engine.
 */
export * from "./errors.js";
export * from "./object/types.js";
export type { ObjectBtf, LoadCollectionSpecOptions } from "./object/object-types.js";
export { loadCollectionSpec } from "./object/load-collection-spec.js";
export { matchSection, type SectionMatch } from "./object/sec-table.js";
export * from "./abi/index.js";
export * from "./backend/types.js";
export * from "./backend/typed-map.js";
export { Collection, type CollectionFor, type CollectionOptions } from "./collection.js";
export * from "./pipeline/index.js";
export type { PipelinePlan, PlanSlot, ProgramRef } from "./tailcall/plan.js";
export * from "./skeleton/index.js";
export * from "./gen/index.js";
export * from "./tailcall/wiring.js";
export * from "./tailcall/plan.js";
export { checkPlan } from "./tailcall/check-plan.js";
export { formatFinding } from "./tailcall/finding-text.js";
export * from "./graph/index.js";
export * from "./stats/index.js";
export {
  type BatchPacket,
  type BatchResult,
  type BatchRunOptions,
  VmCollection,
  VmProgram,
  VmSpace,
  type VmCollectionOptions,
  type VmTier,
  type VmTierOption,
} from "./vm/vm-collection.js";
export { SUPPORTED_HELPERS, MAX_TAIL_CALL_CNT } from "./vm/helpers.js";
export * as asm from "./asm/index.js";
export * as btf from "./btf/index.js";
export * as elf from "./elf/index.js";
export * as net from "./net/index.js";
export * as trace from "./trace/index.js";
export * as kernel from "./kernel/index.js";
export * from "./backend/event-reader.js";
