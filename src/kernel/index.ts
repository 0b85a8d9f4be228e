/**
 * The kernel engine as users see it (`import { kernel } from "tsbpf"`): the live collection,
 * program, map and link that `Collection.load(spec, { backend: "kernel" })` returns, pinning,
 * and the error of a failed syscall. Attr layouts, netlink messages, raw map/program operations
 * and the syscall layer stay internal. This file only re-exports.
 */
export { KernelCollection } from "./kernel-collection.js";
export { type KernelAttachXdpOptions, KernelProgram } from "./kernel-program.js";
export { KernelMap } from "./kernel-map.js";
export { readPinnedStats } from "./pinned-stats.js";
export { KernelXdpLink } from "./kernel-link.js";
export type { XdpMode } from "./netlink-xdp.js";
export type { ProgramInfo } from "./object-ops.js";
export {
  DEFAULT_PIN_ROOT,
  type Pinnable,
  type PinnedPipeline,
  pinPipeline,
  type UnpinOptions,
  type UnpinResult,
  unpinPipeline,
} from "./pinning.js";
export { isSysError, SysError } from "./sys.js";
