import { BpfCmd } from "../abi/index.js";
import { Fd } from "./fd.js";
import { objInfoAttr } from "./attr.js";
import type { Sys } from "./sys.js";
import { throwLoadError } from "./wrap-error.js";

/**
 * The kernel's own run statistics of a program (BPF_ENABLE_STATS): how often it ran and for how
 * long. A tail-call chain is charged whole to the program it entered by, so for an entry these
 * are the chain's.
 */
export interface ProgramRunStats {
  runTimeNs: bigint;
  runCount: bigint;
}

/**
 * Turns on the kernel's run-time statistics (BPF_ENABLE_STATS, BPF_STATS_RUN_TIME) for as long
 * as the returned fd is open; close it to turn them off again (they cost every program a clock
 * read).
 */
export function enableRunTimeStats(sys: Sys): Fd {
  const attr = new Uint8Array(4); // enable_stats.type = BPF_STATS_RUN_TIME (0)
  try {
    return new Fd(sys, sys.bpf(BpfCmd.ENABLE_STATS, attr), "run-time stats");
  } catch (e) {
    throwLoadError(e, "enable run-time stats");
  }
}

/** `run_time_ns` (@192) and `run_cnt` (@200) of `struct bpf_prog_info`. */
export function getProgramRunStats(sys: Sys, progFd: number): ProgramRunStats {
  const info = new Uint8Array(208);
  const { attr, ptrs } = objInfoAttr(progFd, info);
  try {
    sys.bpf(BpfCmd.OBJ_GET_INFO_BY_FD, attr, ptrs);
  } catch (e) {
    throwLoadError(e, `get info of fd ${progFd}`);
  }
  const v = new DataView(info.buffer);
  return { runTimeNs: v.getBigUint64(192, true), runCount: v.getBigUint64(200, true) };
}
