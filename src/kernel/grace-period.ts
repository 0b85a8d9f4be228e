/**
 * Waiting until no BPF program that may have started before now is still running: the grace
 * period between switching a pipeline's entry (link update) and releasing the old version.
 *
 * XDP programs run inside an RCU read-side section (NAPI, bottom halves off), and a tail-call
 * chain runs entirely inside its entry's section. A prog array is emptied the moment its last
 * user reference (fd or pin) goes, so while a packet may still be inside the old entry on another
 * CPU, the old prog arrays must stay referenced. The kernel offers user space no
 * `synchronize_rcu()` call of its own, but it runs one for it: every update of a map-of-maps
 * (BPF_MAP_UPDATE_ELEM on an ARRAY_OF_MAPS) waits, before returning, for every non-sleepable BPF
 * program that could still see the old inner map (`maybe_wait_bpf_programs()` in
 * kernel/bpf/syscall.c). So one such update on a throw-away map is the wait: when it returns,
 * every program that was running when the entry was switched has finished. A fixed sleep would
 * be a guess; this is the kernel's own guarantee.
 */
import { MapType } from "../abi/index.js";
import { encodeScalar } from "../backend/scalar.js";
import { createMap, updateElem } from "./map-ops.js";
import type { Sys } from "./sys.js";

/**
 * Returns once every BPF program (XDP, tc, tail-call chains included) that was running when it
 * was called has finished: the kernel's RCU grace period, through a map-of-maps update.
 */
export function waitForRunningPrograms(sys: Sys): void {
  const inner = createMap(sys, {
    type: MapType.array,
    keySize: 4,
    valueSize: 4,
    maxEntries: 1,
    name: "tsbpf_grace_in",
  });
  try {
    const outer = createMap(sys, {
      type: MapType.array_of_maps,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      innerMapFd: inner.value,
      name: "tsbpf_grace",
    });
    try {
      updateElem(
        sys,
        outer.value,
        encodeScalar(0, 4, true, "key"),
        encodeScalar(inner.value, 4, true, "value"),
      );
    } finally {
      outer.close();
    }
  } finally {
    inner.close();
  }
}
