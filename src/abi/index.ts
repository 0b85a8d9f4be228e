/**
 * Every number and name of the kernel's BPF ABI that tsbpf uses, in one engine-neutral place:
 * the object model, the VM and the kernel engine all import it, and nothing else defines one.
 */
export * from "./attach-type.js";
export * from "./capability.js";
export * from "./command.js";
export * from "./errno.js";
export * from "./flags.js";
export * from "./helper-id.js";
export * from "./map-type.js";
export * from "./namespace.js";
export * from "./page-size.js";
export * from "./prog-type.js";
export * from "./netlink.js";
export * from "./tc.js";
export * from "./xdp.js";
export * from "./ringbuf.js";
export * from "./perf-event.js";
