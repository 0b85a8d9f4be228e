/**
 * The one chokepoint between tsbpf and the operating system's native calls. Everything above
 * this file builds and reads bytes in TypeScript and takes a {@link Sys}, so unit tests can pass a
 * fake that records what would have been sent to the kernel. Only this file loads koffi.
 */
import { createRequire } from "node:module";
import type koffiModule from "koffi";
import { TsbpfError, type TsbpfErrorOptions } from "../errors.js";
import { errnoName } from "./errno.js";

type Koffi = typeof koffiModule;

/**
 * A pointer field inside a `bpf_attr`: the kernel expects at `offset` the address of `buf`.
 * The native implementation copies `buf` into memory that cannot move, writes that address into
 * the attr, and (when `out` is set) copies the kernel's writes back into `buf` after the call.
 */
export interface PtrArg {
  /** Byte offset of the 64-bit pointer field inside the attr. */
  offset: number;
  /** The bytes pointed at (input, output or both). */
  buf: Uint8Array;
  /** Copy the memory back into `buf` after the call, because the kernel writes there. */
  out?: boolean;
}

/** A failed native call: which call, and the errno the kernel gave. */
export class SysError extends TsbpfError {
  override name = "SysError";
  /** The errno value (positive). */
  readonly errno: number;
  /** Its symbolic name, such as "ENOENT". */
  readonly code: string;
  /** The failed call, such as "bpf(BPF_MAP_CREATE)". */
  readonly syscall: string;

  constructor(syscall: string, errno: number, opts: TsbpfErrorOptions = {}) {
    super(`${syscall}: ${errnoName(errno)} (errno ${errno})`, opts);
    this.errno = errno;
    this.code = errnoName(errno);
    this.syscall = syscall;
  }
}

/** Whether `e` is a {@link SysError}. */
export const isSysError = (e: unknown): e is SysError =>
  e instanceof Error && e.name === "SysError" && typeof (e as SysError).errno === "number";

/**
 * The native calls the kernel backend needs. Every call either succeeds or throws a
 * {@link SysError}; the caller's buffers are updated in place where the kernel writes.
 */
export interface Sys {
  /**
   * `bpf(cmd, attr, attr.length)`. `attr` is updated in place with what the kernel wrote back
   * (test_run results, info lengths). Returns the non-negative result (often a new fd).
   */
  bpf(cmd: number, attr: Uint8Array, ptrs?: readonly PtrArg[]): number;
  /** Closes a file descriptor. */
  close(fd: number): void;
  /** `if_nametoindex`; 0 when there is no such interface. */
  ifNameToIndex(name: string): number;
  /** `socket(domain, type, protocol)`; returns the fd. */
  socket(domain: number, type: number, protocol: number): number;
  /** `setsockopt(fd, level, name, value, value.length)`. */
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): void;
  /** `sendto(fd, buf, len, 0, addr, addr.length)`; returns bytes sent. */
  sendto(fd: number, buf: Uint8Array, addr: Uint8Array): number;
  /** `recv(fd, buf, buf.length, flags)` into `buf`; returns bytes received. */
  recv(fd: number, buf: Uint8Array, flags: number): number;
}

/** The bpf(2) syscall number by CPU architecture (Linux). */
export const SYS_BPF: Readonly<Record<string, number>> = Object.freeze({
  x64: 321,
  arm64: 280,
  ia32: 357,
  arm: 386,
  riscv64: 280,
  loong64: 280,
  ppc64: 361,
  s390x: 351,
});

let cached: Sys | undefined;

/**
 * The real native implementation, loaded on first use so that importing tsbpf (or running the
 * VM backend) never needs the native module.
 */
export function defaultSys(): Sys {
  if (cached === undefined) cached = createNativeSys();
  return cached;
}

function createNativeSys(): Sys {
  if (process.platform !== "linux") {
    throw new TsbpfError(`the kernel backend needs Linux, not ${process.platform}`, {
      hint: "use the VM backend on this system",
    });
  }
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) {
    throw new TsbpfError(`no bpf() syscall number known for architecture ${process.arch}`);
  }
  const require = createRequire(import.meta.url);
  let koffi: Koffi;
  try {
    koffi = require("koffi") as Koffi;
  } catch (cause) {
    throw new TsbpfError("cannot load koffi, the native FFI module the kernel backend uses", {
      cause,
      hint: "reinstall tsbpf's dependencies (npm install) on this machine",
    });
  }
  const libc = koffi.load("libc.so.6");
  const syscall = libc.func("long syscall(long number, ...)");
  const close = libc.func("int close(int fd)");
  const ifNameToIndex = libc.func("unsigned int if_nametoindex(const char *ifname)");
  const socket = libc.func("int socket(int domain, int type, int protocol)");
  const setsockopt = libc.func("int setsockopt(int fd, int level, int name, void *value, uint32_t len)");
  const sendto = libc.func(
    "intptr_t sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t addrlen)",
  );
  const recv = libc.func("intptr_t recv(int fd, void *buf, size_t len, int flags)");

  /**
   * Copies each buffer into memory from koffi.alloc (the C heap: never moved by the GC), runs
   * `fn` with their addresses, copies them back, and frees them whatever happens.
   */
  function withNative<T>(
    bufs: readonly Uint8Array[],
    fn: (addrs: bigint[]) => T,
    back: readonly boolean[],
  ): T {
    const ptrs: unknown[] = [];
    let called = false;
    try {
      const addrs: bigint[] = [];
      for (const b of bufs) {
        // Zero-length buffers still get one byte so that every pointer is real and distinct.
        const p = koffi.alloc("uint8_t", Math.max(1, b.byteLength));
        ptrs.push(p);
        new Uint8Array(koffi.view(p, Math.max(1, b.byteLength))).set(b);
        addrs.push(koffi.address(p));
      }
      called = true;
      return fn(addrs);
    } finally {
      // Copy back even when the call failed: the kernel writes the verifier log, log_true_size
      // and data_size_out exactly when it refuses.
      if (called) {
        bufs.forEach((b, i) => {
          if (back[i] === true && b.byteLength > 0) b.set(new Uint8Array(koffi.view(ptrs[i], b.byteLength)));
        });
      }
      for (const p of ptrs) koffi.free(p);
    }
  }

  function check(name: string, r: number | bigint): number {
    const n = Number(r);
    if (n < 0) throw new SysError(name, koffi.errno());
    return n;
  }

  /** One bpf() call with its attr and pointed-at buffers in native memory. */
  function callBpf(
    cmd: number,
    attr: Uint8Array,
    ptrs: readonly PtrArg[],
    bufs: Uint8Array[],
    back: boolean[],
  ): number {
    return withNative(
      bufs,
      (addrs) => {
        const attrAddr = addrs[0] as bigint;
        // The native attr copy is what the kernel reads, so the pointer fields are patched there.
        const native = new DataView(koffi.view(attrAddr, attr.byteLength));
        ptrs.forEach((p, i) => {
          native.setBigUint64(p.offset, addrs[i + 1] as bigint, true);
        });
        koffi.errno(0);
        return check(
          `bpf(${bpfCmdName(cmd)})`,
          syscall(nr, "int", cmd, "void *", attrAddr, "uint", attr.byteLength),
        );
      },
      back,
    );
  }

  return {
    bpf(cmd, attr, ptrs = []) {
      for (const p of ptrs) {
        if (!Number.isInteger(p.offset) || p.offset < 0 || p.offset + 8 > attr.byteLength) {
          throw new TsbpfError(
            `bpf(${bpfCmdName(cmd)}): pointer field at offset ${p.offset} lies outside the ${attr.byteLength}-byte attr`,
          );
        }
      }
      const bufs = [attr, ...ptrs.map((p) => p.buf)];
      const back = [true, ...ptrs.map((p) => p.out === true)];
      try {
        return callBpf(cmd, attr, ptrs, bufs, back);
      } finally {
        // The copied-back attr holds native addresses that are freed now; zero them so the
        // caller's bytes never carry dangling pointers.
        const v = new DataView(attr.buffer, attr.byteOffset, attr.byteLength);
        for (const p of ptrs) v.setBigUint64(p.offset, 0n, true);
      }
    },
    close(fd) {
      check("close", close(fd));
    },
    ifNameToIndex(name) {
      return Number(ifNameToIndex(name));
    },
    socket(domain, type, protocol) {
      return check("socket", socket(domain, type, protocol));
    },
    setsockopt(fd, level, name, value) {
      withNative([value], ([a]) => check("setsockopt", setsockopt(fd, level, name, a, value.byteLength)), [
        false,
      ]);
    },
    sendto(fd, buf, addr) {
      return withNative(
        [buf, addr],
        ([b, a]) => check("sendto", sendto(fd, b, buf.byteLength, 0, a, addr.byteLength)),
        [false, false],
      );
    },
    recv(fd, buf, flags) {
      return withNative([buf], ([b]) => check("recv", recv(fd, b, buf.byteLength, flags)), [true]);
    },
  };
}

const BPF_CMD_NAMES = [
  "BPF_MAP_CREATE",
  "BPF_MAP_LOOKUP_ELEM",
  "BPF_MAP_UPDATE_ELEM",
  "BPF_MAP_DELETE_ELEM",
  "BPF_MAP_GET_NEXT_KEY",
  "BPF_PROG_LOAD",
  "BPF_OBJ_PIN",
  "BPF_OBJ_GET",
  "BPF_PROG_ATTACH",
  "BPF_PROG_DETACH",
  "BPF_PROG_TEST_RUN",
  "BPF_PROG_GET_NEXT_ID",
  "BPF_MAP_GET_NEXT_ID",
  "BPF_PROG_GET_FD_BY_ID",
  "BPF_MAP_GET_FD_BY_ID",
  "BPF_OBJ_GET_INFO_BY_FD",
  "BPF_PROG_QUERY",
  "BPF_RAW_TRACEPOINT_OPEN",
  "BPF_BTF_LOAD",
  "BPF_BTF_GET_FD_BY_ID",
  "BPF_TASK_FD_QUERY",
  "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
  "BPF_MAP_FREEZE",
  "BPF_BTF_GET_NEXT_ID",
  "BPF_MAP_LOOKUP_BATCH",
  "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
  "BPF_MAP_UPDATE_BATCH",
  "BPF_MAP_DELETE_BATCH",
  "BPF_LINK_CREATE",
  "BPF_LINK_UPDATE",
  "BPF_LINK_GET_FD_BY_ID",
  "BPF_LINK_GET_NEXT_ID",
  "BPF_ENABLE_STATS",
  "BPF_ITER_CREATE",
  "BPF_LINK_DETACH",
  "BPF_PROG_BIND_MAP",
];

/** The uapi name of a bpf command number, for messages. */
export function bpfCmdName(cmd: number): string {
  return BPF_CMD_NAMES[cmd] ?? `cmd ${cmd}`;
}
