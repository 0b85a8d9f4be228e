/** Shared pieces of the kernel tests: a tiny assembler, root checks, and a recording fake Sys. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { release } from "node:os";
import { encodeInstructions, type Instruction } from "../../src/asm/instruction.js";
import {
  AluOp,
  CALL,
  Class,
  EXIT,
  JmpOp,
  LDDW,
  Mode,
  PseudoLd,
  Size,
  Source,
} from "../../src/asm/opcodes.js";
import { Errno } from "../../src/abi/index.js";
import { Collection } from "../../src/collection.js";
import { type PtrArg, SysError, type Sys } from "../../src/kernel/sys.js";
import { insn as i } from "../support/insn.js";
import { loadSpec } from "./both-engines.js";

/** Builders for the handful of instructions the tests assemble by hand. */
export const asm = {
  movImm: (dst: number, imm: number) => i(Class.ALU64 | AluOp.MOV | Source.K, dst, 0, 0, imm),
  movReg: (dst: number, src: number) => i(Class.ALU64 | AluOp.MOV | Source.X, dst, src),
  addImm: (dst: number, imm: number) => i(Class.ALU64 | AluOp.ADD | Source.K, dst, 0, 0, imm),
  ldxw: (dst: number, src: number, off: number) => i(Class.LDX | Mode.MEM | Size.W, dst, src, off),
  ldxb: (dst: number, src: number, off: number) => i(Class.LDX | Mode.MEM | Size.B, dst, src, off),
  stb: (dst: number, off: number, imm: number) => i(Class.ST | Mode.MEM | Size.B, dst, 0, off, imm),
  jgtReg: (dst: number, src: number, off: number) => i(Class.JMP | JmpOp.JGT | Source.X, dst, src, off),
  /** `lddw dst, map_fd` (two slots). */
  ldMapFd: (dst: number, fd: number): Instruction[] => [i(LDDW, dst, PseudoLd.MAP_FD, 0, fd), i(0)],
  call: (helper: number) => i(CALL, 0, 0, 0, helper),
  exit: () => i(EXIT),
};

/** Encodes a list of instructions (some entries may be two-slot arrays). */
export function program(...parts: (Instruction | Instruction[])[]): Uint8Array {
  return encodeInstructions(parts.flat());
}

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(): string | undefined {
  if (process.platform !== "linux") return `needs Linux (this is ${process.platform})`;
  if (typeof process.getuid === "function" && process.getuid() !== 0)
    return "needs root: creates BPF maps and programs";
  return undefined;
}

/**
 * Why a test of `helper` cannot run here when this kernel's verifier refuses it to the programs
 * of `file` ("program of this type cannot use helper ...": 6.18.44-fc-v1300 refuses
 * bpf_xdp_adjust_meta to XDP programs), or undefined when `file` loads.
 */
export async function kernelRefusesHelper(file: string, helper: string): Promise<string | undefined> {
  try {
    (await Collection.load(loadSpec(file), { backend: "kernel" })).close();
    return undefined;
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    if (!m.includes(`cannot use helper ${helper}`)) throw e;
    return `this kernel (${release()}) refuses ${helper} to these programs: ${m}`;
  }
}

/** Whether a command is on PATH. */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Makes sure a bpffs is mounted at /sys/fs/bpf; returns false if it could not be. */
export function ensureBpffs(): boolean {
  const mounts = execFileSync("cat", ["/proc/mounts"], { encoding: "utf8" });
  if (/ \/sys\/fs\/bpf bpf /.test(mounts)) return true;
  if (!existsSync("/sys/fs/bpf")) return false;
  try {
    execFileSync("mount", ["-t", "bpf", "bpf", "/sys/fs/bpf"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** One call the fake recorded: the attr as the caller built it and copies of the pointed-at bytes. */
export interface RecordedCall {
  cmd: number;
  attr: Uint8Array;
  ptrs: { offset: number; bytes: Uint8Array; out: boolean }[];
}

/**
 * A fake Sys that records bpf() calls and answers with `respond`, which may write into the attr
 * and output buffers (as the kernel would) and return a result or throw an errno.
 */
export function fakeSys(
  respond: (cmd: number, attr: Uint8Array, ptrs: readonly PtrArg[]) => number | { errno: number },
): {
  sys: Sys;
  calls: RecordedCall[];
  closed: number[];
} {
  const calls: RecordedCall[] = [];
  const closed: number[] = [];
  const sys: Sys = {
    bpf(cmd, attr, ptrs = []) {
      calls.push({
        cmd,
        attr: attr.slice(),
        ptrs: ptrs.map((p) => ({ offset: p.offset, bytes: p.buf.slice(), out: p.out === true })),
      });
      const r = respond(cmd, attr, ptrs);
      if (typeof r === "number") return r;
      throw new SysError("bpf(fake)", r.errno);
    },
    close(fd) {
      closed.push(fd);
    },
    ifNameToIndex: () => 0,
    ifIndexToName: () => undefined,
    setns: () => {
      throw new SysError("setns", Errno.EPERM);
    },
    mount: () => {
      throw new SysError("mount", Errno.EPERM);
    },
    umount: () => {
      throw new SysError("umount", Errno.EPERM);
    },
    socket: () => {
      throw new SysError("socket", Errno.EPERM);
    },
    setsockopt: () => undefined,
    sendto: () => 0,
    recv: () => 0,
  };
  return { sys, calls, closed };
}

/** A little-endian u32 reader over attr bytes. */
export const u32 = (b: Uint8Array, off: number): number =>
  new DataView(b.buffer, b.byteOffset).getUint32(off, true);
/** A little-endian u64 reader over attr bytes. */
export const u64 = (b: Uint8Array, off: number): bigint =>
  new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);
