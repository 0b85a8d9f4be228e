/**
 * The kernel engine as users see it (`import { kernel } from "tsbpf"`): the live collection,
 * program, map and link that `Collection.load(spec, { backend: "kernel" })` returns, pinning
 * (pipelines pinned in bpffs and what they run now),
 * and the error of a failed syscall. Attr layouts, netlink messages, raw map/program operations
 * and the syscall layer stay internal. This file only re-exports.
 */
export { KernelCollection } from "./kernel-collection.js";
export { type KernelAttachTcOptions, type KernelAttachXdpOptions, KernelProgram } from "./kernel-program.js";
export { KernelMap } from "./kernel-map.js";
export { readPinnedStats } from "./pinned-stats.js";
export { loadNativeLayer } from "./sys.js";
export { type SendOptions, type SendResult, sendFrames } from "./live-frames.js";
export { waitForRunningPrograms } from "./grace-period.js";
export { KernelXdpLink } from "./kernel-link.js";
export {
  KernelTcLink,
  type TcAttachment,
  type TcHook,
  type TcLinkDescription,
  type TcMode,
} from "./tc-link.js";
export {
  type KernelTcAttachment,
  KernelTcFilter,
  removeTcFilter,
  type TcFilter,
  type TcFilterDescription,
  type TcFilterRemoval,
} from "./tc-netlink.js";
export type { XdpMode } from "./netlink-xdp.js";
export type { ProgramInfo } from "./object-ops.js";
export { DEFAULT_PIN_ROOT } from "./pinning.js";
export {
  type Pinnable,
  type PinnableMap,
  type PinnedPipeline,
  type PipelinePins,
  pinPipeline,
  type UnpinOptions,
  type UnpinResult,
  unpinPipeline,
} from "./pipeline-pins.js";
export type {
  ByNamePin,
  DescribedProgram,
  ObjectPin,
  PinnedPipelineMeta,
  PipelineDescription,
} from "./pipeline-meta.js";
export {
  type PinnedPipelineStatus,
  type PinnedProgArrayStatus,
  type PinnedProgramStatus,
  type PinnedSlotStatus,
  readPinnedPipeline,
} from "./pipeline-status.js";
export type { XdpAttachment } from "./netlink-xdp.js";
export { isSysError, SysError } from "./sys.js";
