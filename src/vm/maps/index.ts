export { VmMapBase, checkUpdateFlags, errnoOf, flagsToNumber } from "./base.js";
export { ArrayMap } from "./array-map.js";
export { HashMap, type HashKind } from "./hash-map.js";
export { FdArrayMap, type SlotPolicy } from "./fd-array-map.js";
export { ProgArrayMap, isBpfProgram } from "./prog-array-map.js";
export { ArrayOfMaps, HashOfMaps, InnerMapTemplate } from "./map-in-map.js";
export {
  RingbufMap,
  RINGBUF_BUSY_BIT,
  RINGBUF_DISCARD_BIT,
  RINGBUF_HDR_SZ,
  RingbufFlags,
  RingbufQuery,
} from "./ringbuf-map.js";
export { createVmMap } from "./create-vm-map.js";
export { Errno, errnoName, mapError } from "./errno.js";
export { MapFlags, BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK, PAGE_SIZE, round8 } from "./constants.js";
export { vmHandleOf, vmObjectOf } from "./handles.js";
export { encodeScalar, decodeUnsigned } from "./scalar.js";
export type { MapKeyInput, SlotValue, ValueRef, VmMap, VmMapOptions } from "./types.js";
