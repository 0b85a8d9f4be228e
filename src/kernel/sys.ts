/**
 * The one chokepoint between tsbpf and the operating system's native calls. Everything above
 * this file builds and reads bytes in TypeScript and takes a {@link Sys}, so unit tests can pass a
 * fake that records what would have been sent to the kernel. Only this file loads koffi.
 */
import { bpfCmdName, errnoName, IfReq, NetlinkSocket } from "../abi/index.js";
import { createRequire } from "node:module";
import type koffiModule from "koffi";
import { type ErrorContext, TsbpfError, type TsbpfErrorOptions } from "../errors.js";
import { getU32, HOST_LITTLE_ENDIAN, putU32 } from "../internal/bytes.js";

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

  /** As {@link TsbpfError.withContext}, through this class's own constructor (it takes the errno, not a message). */
  override withContext(extra: ErrorContext): this {
    const opts: TsbpfErrorOptions = { ...extra, ...this.context };
    if (this.cause !== undefined) opts.cause = this.cause;
    if (this.hint !== undefined) opts.hint = this.hint;
    return new SysError(this.syscall, this.errno, opts) as this;
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
  /** `if_indextoname`; undefined when there is no such interface. */
  ifIndexToName(index: number): string | undefined;
  /**
   * `setns(fd, nstype)`: moves the calling thread into the namespace `fd` refers to. Only the
   * calling thread moves; for a network namespace, sockets opened afterwards belong to it.
   */
  setns(fd: number, nstype: number): void;
  /** `mount(source, target, fstype, flags, data)`, for tracefs and bpffs when they are missing. */
  mount(source: string, target: string, fstype: string, flags: number, data?: string): void;
  /** `umount2(target, 0)`: takes back a mount tsbpf made (tracefs mounted for a load that then failed). */
  umount(target: string): void;
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

/** The perf_event_open(2) syscall number by CPU architecture (Linux). */
export const SYS_PERF_EVENT_OPEN: Readonly<Record<string, number>> = Object.freeze({
  x64: 298,
  arm64: 241,
  ia32: 336,
  arm: 364,
  riscv64: 241,
  loong64: 241,
  ppc64: 319,
  s390x: 331,
});

/**
 * socket(2), ioctl(2) and close(2) by CPU architecture (Linux): the interface lookup makes them
 * through the variadic `syscall()` bpf(2) already bound. Declaring glibc's `if_nametoindex` and
 * calling it the first time costs koffi and the dynamic linker about 0.2 ms, inside the attach a
 * loader waits on (issue 14); an architecture missing here uses it.
 */
const SYS_IFINDEX: Readonly<Record<string, { socket: number; ioctl: number; close: number }>> = Object.freeze(
  {
    x64: { socket: 41, ioctl: 16, close: 3 },
    arm64: { socket: 198, ioctl: 29, close: 57 },
    riscv64: { socket: 198, ioctl: 29, close: 57 },
    loong64: { socket: 198, ioctl: 29, close: 57 },
    ia32: { socket: 359, ioctl: 54, close: 6 },
    arm: { socket: 281, ioctl: 54, close: 6 },
    ppc64: { socket: 326, ioctl: 54, close: 6 },
    s390x: { socket: 359, ioctl: 54, close: 6 },
  },
);

/** Memory of a file mapped with {@link EventSys.mmap}: an ArrayBuffer over it, and how to let it go. */
export interface MappedMemory {
  /** The mapping itself (not a copy): reads see what the kernel writes. Never touch it after unmap. */
  readonly buffer: ArrayBuffer;
  /** `munmap`; idempotent. */
  unmap(): void;
}

/**
 * The native calls of the event readers (ring buffers, perf event arrays): mapping a map's or a
 * perf event's pages, and waiting for data without holding Node's main thread. Apart from
 * {@link Sys} so fakes of it stay small; {@link defaultEventSys} gives the real one.
 */
export interface EventSys {
  /** `mmap(NULL, length, prot, MAP_SHARED, fd, offset)` as an ArrayBuffer over the mapping. */
  mmap(fd: number, length: number, prot: number, offset: number): MappedMemory;
  /** `epoll_create1(EPOLL_CLOEXEC)`. */
  epollCreate(): number;
  /** `epoll_ctl(epfd, EPOLL_CTL_ADD, fd, {EPOLLIN, token})`. */
  epollAdd(epfd: number, fd: number, token: number): void;
  /**
   * `epoll_wait(epfd, ..., timeoutMs)` run on one of koffi's worker threads, so the event loop
   * stays free while it blocks; resolves with the number of ready fds (0 on timeout).
   */
  epollWait(epfd: number, timeoutMs: number): Promise<number>;
  /** `eventfd(0, EFD_CLOEXEC)`: what {@link eventfdSignal} writes to wakes a waiting epoll. */
  eventfd(): number;
  /** Adds 1 to an eventfd's counter (a `write` of 8 bytes). */
  eventfdSignal(fd: number): void;
  /** `perf_event_open(attr, pid, cpu, group_fd, flags)`; returns the fd. */
  perfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number): number;
  /** `ioctl(fd, request, arg)` with an integer argument. */
  ioctl(fd: number, request: number, arg: number): void;
  /** Closes a file descriptor. */
  close(fd: number): void;
}

let cachedEvents: EventSys | undefined;

/** The real {@link EventSys}, loaded on first use like {@link defaultSys}. */
export function defaultEventSys(): EventSys {
  if (cachedEvents === undefined) cachedEvents = createEventSys();
  return cachedEvents;
}

function createEventSys(): EventSys {
  if (process.platform !== "linux") {
    throw new TsbpfError(`event readers need Linux, not ${process.platform}`, {
      hint: "use the VM backend on this system",
    });
  }
  const nr = SYS_PERF_EVENT_OPEN[process.arch];
  const koffi = loadKoffi(createRequire(import.meta.url));
  const libc = koffi.load("libc.so.6");
  const mmap = libc.func("void *mmap(void *addr, size_t len, int prot, int flags, int fd, intptr_t off)");
  const munmap = libc.func("int munmap(void *addr, size_t len)");
  const epollCreate1 = libc.func("int epoll_create1(int flags)");
  const epollCtl = libc.func("int epoll_ctl(int epfd, int op, int fd, void *event)");
  const epollWait = libc.func("int epoll_wait(int epfd, void *events, int maxevents, int timeout)");
  const eventfd = libc.func("int eventfd(unsigned int initval, int flags)");
  const write = libc.func("intptr_t write(int fd, void *buf, size_t len)");
  const ioctl = libc.func("int ioctl(int fd, unsigned long request, unsigned long arg)");
  const close = libc.func("int close(int fd)");
  const syscall = libc.func("long syscall(long number, ...)");
  const check = (name: string, r: number | bigint): number => {
    const n = Number(r);
    if (n < 0) throw new SysError(name, koffi.errno());
    return n;
  };
  /** MAP_FAILED is (void *)-1. */
  const MAP_FAILED = 0xffffffffffffffffn;
  return {
    mmap(fd, length, prot, offset) {
      koffi.errno(0);
      const p = mmap(null, length, prot, 1 /* MAP_SHARED */, fd, offset);
      if (p === null || koffi.address(p) === MAP_FAILED) throw new SysError("mmap", koffi.errno());
      const buffer = koffi.view(p, length);
      let mapped = true;
      return {
        buffer,
        unmap() {
          if (!mapped) return;
          mapped = false;
          check("munmap", munmap(p, length));
        },
      };
    },
    epollCreate() {
      return check("epoll_create1", epollCreate1(0o2000000));
    },
    epollAdd(epfd, fd, token) {
      // struct epoll_event is packed on x86-64 (12 bytes), 16 bytes elsewhere; events then data.
      const ev = new Uint8Array(16);
      const v = new DataView(ev.buffer);
      v.setUint32(0, 1 /* EPOLLIN */, true);
      v.setUint32(process.arch === "x64" ? 4 : 8, token, true);
      check("epoll_ctl", epollCtl(epfd, 1 /* EPOLL_CTL_ADD */, fd, ev));
    },
    epollWait(epfd, timeoutMs) {
      const events = new Uint8Array(16 * 8);
      return new Promise((resolve, reject) => {
        epollWait.async(epfd, events, 8, timeoutMs, (err: unknown, r: number) => {
          // EINTR is a wake-up like any other: the caller looks at the buffers again.
          if (err !== null && err !== undefined) reject(err);
          else resolve(Math.max(0, Number(r)));
        });
      });
    },
    eventfd() {
      return check("eventfd", eventfd(0, 0o2000000));
    },
    eventfdSignal(fd) {
      const one = new Uint8Array(8);
      one[0] = 1;
      check("write(eventfd)", write(fd, one, 8));
    },
    perfEventOpen(attr, pid, cpu, groupFd, flags) {
      if (nr === undefined)
        throw new TsbpfError(`no perf_event_open syscall number known for ${process.arch}`);
      koffi.errno(0);
      const r = Number(syscall(nr, "void *", attr, "int", pid, "int", cpu, "int", groupFd, "ulong", flags));
      if (r < 0) throw new SysError("perf_event_open", koffi.errno());
      return r;
    },
    ioctl(fd, request, arg) {
      koffi.errno(0);
      check("ioctl", ioctl(fd, request, arg));
    },
    close(fd) {
      check("close", close(fd));
    },
  };
}

let cached: Sys | undefined;

/**
 * Bounds of the native memory a {@link Sys} keeps for its calls' buffers. It starts at 64 KiB:
 * a program load stages its instructions, func and line info there, and a 4 KiB start made the
 * first load of an ordinary program grow it (another koffi allocation, view and free inside the
 * load: about 0.2 ms on a cold process).
 */
const ARENA_MIN = 65536;
const ARENA_MAX = 1 << 20;

/** Native memory for a call's buffers: koffi's pointer, its address, and a view of its bytes. */
interface NativeArea {
  readonly ptr: unknown;
  /** The address as a number: user-space addresses are below 2^53 on every architecture Linux runs. */
  readonly addr: number;
  readonly bytes: Uint8Array;
}

function nativeArea(koffi: Koffi, size: number): NativeArea {
  const ptr = koffi.alloc("uint8_t", size);
  const mem = koffi.view(ptr, size);
  return { ptr, addr: Number(koffi.address(ptr)), bytes: new Uint8Array(mem) };
}

/** Bytes a buffer takes in native memory: at least one, so that every pointer is real and distinct, rounded up to 8. */
function stagedSize(n: number): number {
  return Math.ceil(Math.max(1, n) / 8) * 8;
}

/** Writes a 64-bit pointer field (host byte order, little-endian) from a number, with no BigInt. */
function setAddress(bytes: Uint8Array, offset: number, addr: number): void {
  putU32(bytes, offset, addr % 0x1_0000_0000, true);
  putU32(bytes, offset + 4, Math.floor(addr / 0x1_0000_0000), true);
}

/** The native binary's API: what tsbpf calls, plus the version it reports. */
type KoffiNative = Koffi & { version?: unknown };

/**
 * Loads koffi. Its entry point spends about 4 ms finding its prebuilt binary (it reads node's own
 * ELF header to tell glibc from musl and builds deprecation wrappers), against about 1.3 ms to
 * load the binary itself; so the binary is required directly from koffi 3's per-platform package
 * (`@koromix/koffi-<os>-<arch>/<libc>_<arch>/koffi.node`, glibc first, as koffi itself falls back),
 * and only when that is not installed where Node can resolve it does the entry point run.
 */
function loadKoffi(require: NodeJS.Require): Koffi {
  const pkg = `@koromix/koffi-${process.platform}-${process.arch}`;
  for (const libc of [process.platform, "musl"]) {
    try {
      const native = require(`${pkg}/${libc}_${process.arch}/koffi.node`) as KoffiNative;
      if (
        typeof native.version === "string" &&
        native.version.startsWith("3.") &&
        typeof native.load === "function"
      )
        return native;
    } catch {
      // Not there, or not for this libc: try the next, then koffi's own loader.
    }
  }
  try {
    return require("koffi") as Koffi;
  } catch (cause) {
    throw new TsbpfError("cannot load koffi, the native FFI module the kernel backend uses", {
      cause,
      hint: "reinstall tsbpf's dependencies (npm install) on this machine",
    });
  }
}

/**
 * The real native implementation, loaded on first use so that importing tsbpf (or running the
 * VM backend) never needs the native module.
 */
export function defaultSys(): Sys {
  if (cached === undefined) cached = createNativeSys();
  return cached;
}

/**
 * Loads the kernel engine's native layer now (koffi's binary, libc, the `syscall()` binding)
 * rather than on the first kernel call, and makes no call: for a program that wants its first
 * load as quick as it can be, or to fail at start where koffi cannot load (a TsbpfError).
 */
export function loadNativeLayer(): void {
  defaultSys();
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
  const koffi = loadKoffi(createRequire(import.meta.url));
  const libc = koffi.load("libc.so.6");
  const syscall = libc.func("long syscall(long number, ...)");
  // The others are declared on first use: a loader needs only syscall() and close().
  type Fn = ReturnType<typeof libc.func>;
  const lazy = (proto: string): (() => Fn) => {
    let fn: Fn | undefined;
    return () => {
      fn ??= libc.func(proto);
      return fn;
    };
  };
  const close = lazy("int close(int fd)");
  const ifNameToIndex = lazy("unsigned int if_nametoindex(const char *ifname)");
  const socket = lazy("int socket(int domain, int type, int protocol)");
  const setsockopt = lazy("int setsockopt(int fd, int level, int name, void *value, uint32_t len)");
  const sendto = lazy(
    "intptr_t sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t addrlen)",
  );
  const recv = lazy("intptr_t recv(int fd, void *buf, size_t len, int flags)");
  const ifIndexToName = lazy("void *if_indextoname(unsigned int ifindex, void *ifname)");
  const setns = lazy("int setns(int fd, int nstype)");
  const mount = lazy(
    "int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)",
  );
  const umount2 = lazy("int umount2(const char *target, int flags)");

  /**
   * Native memory reused by every call: one koffi.alloc and one byte view of it, grown on demand
   * up to {@link ARENA_MAX}; a call that needs more gets memory of its own, freed after it.
   * Allocating, viewing and freeing each buffer of each call (five for a program load) cost about
   * 0.1 ms a call when Node runs cold. Calls are synchronous and never nest, so one area suffices.
   * It is made with the layer: koffi's first allocation costs about 0.1 ms on a cold process,
   * part of setting koffi up (loadNativeLayer) rather than of the first call.
   */
  let arena: NativeArea = nativeArea(koffi, ARENA_MIN);

  /** Native memory of at least `total` bytes: the shared area, or a one-off the caller frees. */
  function area(total: number): NativeArea {
    if (total > ARENA_MAX) return nativeArea(koffi, total);
    if (arena.bytes.byteLength < total) {
      const next = nativeArea(koffi, Math.min(ARENA_MAX, 2 ** Math.ceil(Math.log2(total))));
      koffi.free(arena.ptr);
      arena = next;
    }
    return arena;
  }

  /** Frees `a` unless it is the shared area. */
  function release(a: NativeArea): void {
    if (a !== arena) koffi.free(a.ptr);
  }

  /** Copies `bufs` into native memory, runs `fn` with their addresses and native copies, copies back. */
  function withNative<T>(
    bufs: readonly Uint8Array[],
    fn: (addrs: bigint[], mem: Uint8Array[]) => T,
    back: readonly boolean[],
  ): T {
    let total = 0;
    for (let i = 0; i < bufs.length; i++) total += stagedSize((bufs[i] as Uint8Array).byteLength);
    const a = area(total);
    const addrs: bigint[] = [];
    const mem: Uint8Array[] = [];
    let o = 0;
    for (let i = 0; i < bufs.length; i++) {
      const b = bufs[i] as Uint8Array;
      a.bytes.set(b, o);
      mem.push(a.bytes.subarray(o, o + Math.max(1, b.byteLength)));
      addrs.push(BigInt(a.addr + o));
      o += stagedSize(b.byteLength);
    }
    try {
      return fn(addrs, mem);
    } finally {
      // Copied back even when the call failed, as bpf()'s are.
      for (let i = 0; i < bufs.length; i++) {
        const b = bufs[i] as Uint8Array;
        if (back[i] === true && b.byteLength > 0) b.set((mem[i] as Uint8Array).subarray(0, b.byteLength));
      }
      release(a);
    }
  }

  function check(name: string, r: number | bigint): number {
    const n = Number(r);
    if (n < 0) throw new SysError(name, koffi.errno());
    return n;
  }

  return {
    // The path every load, map operation and attach takes, several times each, mostly on a
    // cold process: indexed loops (a for-of allocates an iterator and a result per step until
    // V8 optimizes it, which these calls never run often enough for), addresses as numbers, and
    // no closure, so that a call allocates little besides the attr its caller built.
    bpf(cmd, attr, ptrs = []) {
      const size = attr.byteLength;
      let total = stagedSize(size);
      for (let i = 0; i < ptrs.length; i++) {
        const p = ptrs[i] as PtrArg;
        if (!Number.isInteger(p.offset) || p.offset < 0 || p.offset + 8 > size) {
          throw new TsbpfError(
            `bpf(${bpfCmdName(cmd)}): pointer field at offset ${p.offset} lies outside the ${size}-byte attr`,
          );
        }
        total += stagedSize(p.buf.byteLength);
      }
      const a = area(total);
      try {
        a.bytes.set(attr, 0);
        // The native attr copy is what the kernel reads, so the pointer fields are patched there.
        let o = stagedSize(size);
        for (let i = 0; i < ptrs.length; i++) {
          const p = ptrs[i] as PtrArg;
          a.bytes.set(p.buf, o);
          setAddress(a.bytes, p.offset, a.addr + o);
          o += stagedSize(p.buf.byteLength);
        }
        koffi.errno(0);
        const r = Number(syscall(nr, "int", cmd, "void *", a.ptr, "uint", size));
        const errno = r < 0 ? koffi.errno() : 0;
        // Copied back even when the call failed: the kernel writes the verifier log,
        // log_true_size and data_size_out exactly when it refuses. The attr's pointer fields are
        // zeroed first, so the caller's bytes never carry addresses that are reused now.
        o = stagedSize(size);
        for (let i = 0; i < ptrs.length; i++) {
          const p = ptrs[i] as PtrArg;
          if (p.out === true) p.buf.set(a.bytes.subarray(o, o + p.buf.byteLength));
          setAddress(a.bytes, p.offset, 0);
          o += stagedSize(p.buf.byteLength);
        }
        attr.set(a.bytes.subarray(0, size));
        if (r < 0) throw new SysError(`bpf(${bpfCmdName(cmd)})`, errno);
        return r;
      } finally {
        release(a);
      }
    },
    close(fd) {
      check("close", close()(fd));
    },
    ifNameToIndex(name) {
      const n = SYS_IFINDEX[process.arch];
      if (n === undefined) return Number(ifNameToIndex()(name));
      // As glibc does; 0 for a name no interface can have (empty, or too long with its NUL).
      if (name.length === 0 || name.length >= IfReq.NAMSIZ) return 0;
      const ifr = new Uint8Array(IfReq.SIZE);
      // ASCII copied as is: a TextEncoder costs tens of microseconds on its first use.
      for (let i = 0; i < name.length; i++) {
        const c = name.charCodeAt(i);
        if (c > 0x7f) {
          ifr.fill(0);
          const { read } = new TextEncoder().encodeInto(name, ifr.subarray(0, IfReq.NAMSIZ - 1));
          if (read !== name.length) return 0;
          break;
        }
        ifr[i] = c;
      }
      const type = IfReq.SOCK_DGRAM | NetlinkSocket.SOCK_CLOEXEC;
      const fd = Number(syscall(n.socket, "int", IfReq.AF_UNIX, "int", type, "int", 0));
      if (fd < 0) throw new SysError("socket", koffi.errno());
      try {
        const r = withNative(
          [ifr],
          ([a]) =>
            Number(syscall(n.ioctl, "int", fd, "unsigned long", IfReq.SIOCGIFINDEX, "void *", a as bigint)),
          [true],
        );
        // The kernel writes the index in the host's byte order.
        return r < 0 ? 0 : getU32(ifr, IfReq.INDEX_OFFSET, HOST_LITTLE_ENDIAN);
      } finally {
        syscall(n.close, "int", fd);
      }
    },
    socket(domain, type, protocol) {
      return check("socket", socket()(domain, type, protocol));
    },
    setsockopt(fd, level, name, value) {
      withNative([value], ([a]) => check("setsockopt", setsockopt()(fd, level, name, a, value.byteLength)), [
        false,
      ]);
    },
    sendto(fd, buf, addr) {
      return withNative(
        [buf, addr],
        ([b, a]) => check("sendto", sendto()(fd, b, buf.byteLength, 0, a, addr.byteLength)),
        [false, false],
      );
    },
    recv(fd, buf, flags) {
      return withNative([buf], ([b]) => check("recv", recv()(fd, b, buf.byteLength, flags)), [true]);
    },
    ifIndexToName(index) {
      // IF_NAMESIZE (16) bytes, as if_indextoname(3) requires.
      const name = new Uint8Array(16);
      const found = withNative([name], ([n]) => ifIndexToName()(index, n) !== null, [true]);
      if (!found) return undefined;
      const end = name.indexOf(0);
      return new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end));
    },
    setns(fd, nstype) {
      koffi.errno(0);
      check("setns", setns()(fd, nstype));
    },
    mount(source, target, fstype, flags, data) {
      koffi.errno(0);
      check(`mount(${fstype} on ${target})`, mount()(source, target, fstype, flags, data ?? null));
    },
    umount(target) {
      koffi.errno(0);
      check(`umount(${target})`, umount2()(target, 0));
    },
  };
}
