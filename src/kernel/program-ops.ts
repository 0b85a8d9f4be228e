/** Loading programs and BTF, and BPF_PROG_TEST_RUN. */
import { BpfCmd, Errno, errnoName } from "../abi/index.js";
import { type ErrorContext, UsageError, VerifierError } from "../errors.js";
import {
  progBindMapAttr,
  type AttrCall,
  BTF_LOAD_LOG_TRUE_SIZE,
  btfLoadAttr,
  PROG_LOAD_LOG_TRUE_SIZE,
  type ProgLoadAttr,
  progLoadAttr,
  TestRunOut,
  testRunAttr,
} from "./attr.js";
import { Fd } from "./fd.js";
import { isSysError, SysError, type Sys } from "./sys.js";
import { loadErrorFrom } from "./wrap-error.js";

/** Options of {@link loadProgram}. */
export interface LoadProgramOptions extends Omit<ProgLoadAttr, "logBuf"> {
  /** Initial verifier log buffer size when a log is wanted; grown on ENOSPC. Default 64 KiB. */
  logSize?: number;
}

/** A loaded program: its fd and, when `logLevel` was given, the verifier's log of the success. */
export interface LoadedProgram {
  fd: Fd;
  log: string;
}

const DEFAULT_LOG_SIZE = 64 * 1024;
/** The kernel refuses log buffers above UINT32_MAX >> 2; stay well below. */
const MAX_LOG_SIZE = 256 * 1024 * 1024;

/** Decodes a NUL-terminated log buffer. */
export function decodeLog(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buf : buf.subarray(0, end));
}

/**
 * The line of a verifier log that explains the rejection: the last line that is not one of the
 * statistics lines the verifier prints after its verdict.
 */
export function verifierSummary(lines: readonly string[]): string {
  const stats =
    /^(processed \d+ insns|verification time|stack depth|max_states_per_insn|mark_read|peak_states|func#)/;
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = (lines[i] ?? "").trim();
    if (l !== "" && !stats.test(l)) return l;
  }
  return "";
}

interface Attempt {
  fd?: number;
  error?: SysError;
  log: string;
  trueSize: number;
}

/**
 * Runs a load command with an optional log buffer, growing the buffer while the kernel answers
 * ENOSPC (the log did not fit). Kernels 6.4+ report the size they needed; older ones get doubling.
 */
function loadWithLog(
  sys: Sys,
  cmd: number,
  build: (logBuf: Uint8Array | undefined) => AttrCall,
  trueSizeOffset: number,
  logSize: number | undefined,
): Attempt {
  let size = logSize;
  // The verifier gives up with EAGAIN when a signal is pending (a profiler's timer, a child
  // exiting); libbpf retries such loads a few times, and so do we.
  let interrupted = 0;
  for (;;) {
    const logBuf = size === undefined ? undefined : new Uint8Array(size);
    const { attr, ptrs } = build(logBuf);
    try {
      const fd = sys.bpf(cmd, attr, ptrs);
      return { fd, log: logBuf === undefined ? "" : decodeLog(logBuf), trueSize: 0 };
    } catch (e) {
      if (!isSysError(e)) throw e;
      const trueSize = new DataView(attr.buffer, attr.byteOffset).getUint32(trueSizeOffset, true);
      if (e.errno === Errno.EAGAIN && interrupted++ < 5) continue;
      if (e.errno === Errno.ENOSPC && size !== undefined && size < MAX_LOG_SIZE) {
        size = Math.min(MAX_LOG_SIZE, Math.max(size * 2, trueSize));
        continue;
      }
      return { error: e, log: logBuf === undefined ? "" : decodeLog(logBuf), trueSize };
    }
  }
}

/**
 * Runs a load command at `firstLevel`, with a log only when `opts` asks for one (the fast path);
 * when that fails without a log it runs once more with a level-1 log, so the error can carry the
 * verifier's reasons rather than a bare errno.
 */
function loadExplained(
  sys: Sys,
  cmd: number,
  build: (logLevel: number) => (logBuf: Uint8Array | undefined) => AttrCall,
  trueSizeOffset: number,
  firstLevel: number,
  opts: { logLevel?: number; logSize?: number },
): Attempt {
  const wanted = opts.logLevel !== undefined && opts.logLevel > 0;
  const logSize = opts.logSize ?? DEFAULT_LOG_SIZE;
  const a = loadWithLog(sys, cmd, build(firstLevel), trueSizeOffset, wanted ? logSize : undefined);
  if (a.error === undefined || wanted) return a;
  return loadWithLog(sys, cmd, build(1), trueSizeOffset, logSize);
}

/**
 * Loads a program. The first attempt has no log (fast path) unless `logLevel` asks for one; on
 * failure it is retried with a log so the error carries the verifier's reasons. Throws
 * {@link VerifierError} (with the whole log) when the verifier explained itself, LoadError otherwise.
 */
export function loadProgram(sys: Sys, opts: LoadProgramOptions): LoadedProgram {
  if (opts.insns.byteLength === 0 || opts.insns.byteLength % 8 !== 0) {
    throw new UsageError(
      `program ${opts.name ?? ""}: ${opts.insns.byteLength} bytes of instructions is not a positive multiple of 8`,
    );
  }
  const ctx: ErrorContext = opts.name === undefined ? {} : { program: opts.name };
  const build = (logLevel: number) => (logBuf: Uint8Array | undefined) =>
    progLoadAttr({ ...opts, logLevel, ...(logBuf === undefined ? {} : { logBuf }) });
  const a = loadExplained(sys, BpfCmd.PROG_LOAD, build, PROG_LOAD_LOG_TRUE_SIZE, opts.logLevel ?? 0, opts);
  if (a.fd !== undefined) return { fd: new Fd(sys, a.fd, `program ${opts.name ?? "(unnamed)"}`), log: a.log };
  throw rejection(a, `load program ${opts.name ?? "(unnamed)"}`, ctx);
}

function rejection(a: Attempt, op: string, ctx: ErrorContext): unknown {
  const e = a.error as SysError;
  const lines = a.log.split("\n").filter((l, i, all) => l !== "" || i < all.length - 1);
  if (
    lines.length === 0 ||
    (e.errno !== Errno.EACCES &&
      e.errno !== Errno.EINVAL &&
      e.errno !== Errno.E2BIG &&
      e.errno !== Errno.ENOSPC)
  ) {
    return loadErrorFrom(e, op, ctx);
  }
  const summary = verifierSummary(lines);
  const err = new VerifierError(`${op}: verifier rejected it (${errnoName(e.errno)}): ${summary}`, {
    ...ctx,
    cause: e,
    hint: "the whole log is in error.log",
  });
  err.errno = e.errno;
  err.log = lines;
  return err;
}

/** Loads raw BTF (header, types, strings) and returns its fd; a rejection carries the BTF verifier log. */
export function loadBtf(
  sys: Sys,
  btf: Uint8Array,
  opts: { logLevel?: number; logSize?: number } = {},
): { fd: Fd; log: string } {
  const build = (level: number) => (logBuf: Uint8Array | undefined) => btfLoadAttr(btf, logBuf, level);
  const a = loadExplained(sys, BpfCmd.BTF_LOAD, build, BTF_LOAD_LOG_TRUE_SIZE, opts.logLevel ?? 1, opts);
  if (a.fd !== undefined) return { fd: new Fd(sys, a.fd, "BTF"), log: a.log };
  throw rejection(a, "load BTF", {});
}

/** Options of {@link testRun}. */
export interface TestRunOptions {
  /** Packet (or other input data). XDP needs at least 14 bytes. */
  dataIn?: Uint8Array;
  /** Size of the output buffer; default input size + 4096 (room for adjust_head/tail growth). */
  dataOutSize?: number;
  /** Runs; the duration reported is the mean per run. 0 and 1 both mean once. */
  repeat?: number;
  /** Context in (for XDP, a `struct xdp_md`). */
  ctxIn?: Uint8Array;
  /** Size of the context-out buffer; 0 or absent for none. */
  ctxOutSize?: number;
  flags?: number;
  cpu?: number;
  batchSize?: number;
}

/** What one BPF_PROG_TEST_RUN reported. */
export interface TestRunResult {
  /** The program's return value (u32). */
  retval: number;
  /** The output data, exactly `data_size_out` bytes. */
  dataOut: Uint8Array;
  /** Mean duration per run in nanoseconds, as the kernel measured it. */
  durationNs: number;
  /** The context after the run, when `ctxOutSize` was given. */
  ctxOut?: Uint8Array;
}

/** Runs a loaded program in the kernel on the given input (BPF_PROG_TEST_RUN). */
export function testRun(sys: Sys, progFd: number, opts: TestRunOptions = {}): TestRunResult {
  const dataOut = new Uint8Array(opts.dataOutSize ?? (opts.dataIn?.byteLength ?? 0) + 4096);
  const ctxOut =
    opts.ctxOutSize === undefined || opts.ctxOutSize === 0 ? undefined : new Uint8Array(opts.ctxOutSize);
  const call = testRunAttr({
    progFd,
    dataOut,
    ...(opts.dataIn === undefined ? {} : { dataIn: opts.dataIn }),
    ...(opts.repeat === undefined ? {} : { repeat: opts.repeat }),
    ...(opts.ctxIn === undefined ? {} : { ctxIn: opts.ctxIn }),
    ...(ctxOut === undefined ? {} : { ctxOut }),
    ...(opts.flags === undefined ? {} : { flags: opts.flags }),
    ...(opts.cpu === undefined ? {} : { cpu: opts.cpu }),
    ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize }),
  });
  try {
    sys.bpf(BpfCmd.PROG_TEST_RUN, call.attr, call.ptrs);
  } catch (e) {
    if (isSysError(e) && e.errno === Errno.ENOSPC) {
      throw new SysError(e.syscall, e.errno, {
        cause: e,
        hint: `the output did not fit in ${dataOut.byteLength} bytes; pass a larger dataOutSize`,
      });
    }
    throw loadErrorFrom(
      e,
      "test run",
      {},
      {
        [Errno.ENODEV]:
          "no interface has the context's ingress ifindex in the network namespace the run happens in; run in the interface's namespace (--netns NAME, or the collection's netns option)",
      },
    );
  }
  const v = new DataView(call.attr.buffer, call.attr.byteOffset);
  const outLen = Math.min(v.getUint32(TestRunOut.dataSizeOut, true), dataOut.byteLength);
  const r: TestRunResult = {
    retval: v.getUint32(TestRunOut.retval, true),
    dataOut: dataOut.slice(0, outLen),
    durationNs: v.getUint32(TestRunOut.duration, true),
  };
  if (ctxOut !== undefined)
    r.ctxOut = ctxOut.slice(0, Math.min(v.getUint32(TestRunOut.ctxSizeOut, true), ctxOut.byteLength));
  return r;
}

/** Fields of the `struct xdp_md` given to an XDP test run as `ctxIn`. */
export interface XdpContext {
  /** Length of the packet passed as `dataIn` (the kernel requires data_end == data_size_in). */
  dataLen: number;
  /** Bytes at the start of `dataIn` that are metadata before the packet (data_meta .. data). */
  metaLen?: number;
  /** `ingress_ifindex`: must name a real device in this network namespace, or be 0. */
  ingressIfindex?: number;
  /** `rx_queue_index`: must be below the device's number of receive queues. */
  rxQueueIndex?: number;
}

/** Builds the 24-byte `struct xdp_md` for `ctxIn` (data @0, data_end @4, data_meta @8 as offsets into `dataIn`; egress_ifindex 0). */
export function xdpContext(c: XdpContext): Uint8Array {
  const out = new Uint8Array(24);
  const v = new DataView(out.buffer);
  v.setUint32(0, c.metaLen ?? 0, true); // data
  v.setUint32(4, c.dataLen, true); // data_end
  v.setUint32(8, 0, true); // data_meta
  v.setUint32(12, c.ingressIfindex ?? 0, true);
  v.setUint32(16, c.rxQueueIndex ?? 0, true);
  return out;
}

/**
 * Binds `mapFd` to the program (BPF_PROG_BIND_MAP) so it shows in the program's map list and
 * lives as long as the program, for a map no instruction names (libbpf binds `.rodata` so).
 * Best effort, as in libbpf: kernels before 5.10 lack the command and nothing depends on it.
 */
export function bindMapToProgram(sys: Sys, progFd: number, mapFd: number): boolean {
  const { attr, ptrs } = progBindMapAttr(progFd, mapFd);
  try {
    sys.bpf(BpfCmd.PROG_BIND_MAP, attr, ptrs);
    return true;
  } catch {
    return false;
  }
}
