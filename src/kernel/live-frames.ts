/**
 * A traffic generator for testing pipelines on veths (`tsbpf send`): BPF_PROG_TEST_RUN in live
 * frames mode (BPF_F_TEST_XDP_LIVE_FRAMES, 5.18+) runs a two-instruction program returning
 * XDP_TX on a packet `repeat` times, and the kernel transmits each frame out of the context's
 * `ingress_ifindex`. Out of one end of a veth, the frames arrive at the peer, where an XDP
 * program sees them (without one, veth drops them silently). No socket, no copy per packet: one
 * repeated packet goes out at millions per second, and so do distinct packets (a capture): a
 * program cycling through them rewrites each repeated frame (live-frames-cycle.ts); only a
 * packet over its 2048 bytes, or a kernel that refuses it, takes one syscall a packet.
 *
 * It sends only where it is told: the interface and network namespace are the caller's.
 */
import { Errno, ProgType, TestRunFlag, XdpAction } from "../abi/index.js";
import { assemble } from "../asm/assemble.js";
import { encodeInstructions } from "../asm/instruction.js";
import { isLoadError, LoadError, UsageError } from "../errors.js";
import { missingCaps } from "./errno-hint.js";
import type { Fd } from "./fd.js";
import { linkTxDropped } from "./link-stats.js";
import { CYCLE_MAX_FRAME, type FrameCycle, loadFrameCycle } from "./live-frames-cycle.js";
import { inOwnUserNamespace, readEffectiveCaps } from "./host.js";
import { checkNetns, inNetns } from "./netns.js";
import { loadProgram, testRun, xdpContext } from "./program-ops.js";
import { defaultSys, type Sys } from "./sys.js";

/** Frames one test run hands the driver per batch (the kernel's default, NAPI_POLL_WEIGHT). */
const BATCH = 64;
/** Largest `repeat` per syscall, so a rate or a deadline is checked often enough. */
const CHUNK = 1 << 20;

/** Options of {@link sendFrames}. */
export interface SendOptions {
  /** The interface the frames leave through (its peer receives them). */
  iface: string;
  /** The network namespace the interface is in; default the caller's. */
  netns?: string;
  /** The packets, sent in turn (one packet: repeated). */
  packets: readonly Uint8Array[];
  /** Stop after this many frames. */
  count?: number;
  /** Stop after this many seconds. */
  durationS?: number;
  /** At most this many frames per second; default as fast as the kernel takes them. */
  rate?: number;
  /** Stop early when aborted. */
  signal?: AbortSignal;
  /** @internal The syscall layer. */
  sys?: Sys;
}

/** What {@link sendFrames} sent. */
export interface SendResult {
  /** Frames handed to the interface, `refused` ones included. */
  sent: number;
  /**
   * Frames the interface counted as transmit drops while sending (its `tx_dropped`): on a veth,
   * those its peer refused because its XDP ring was full (the sender outran the peer's NAPI).
   * They never reached the peer. (Other traffic dropped on the interface meanwhile counts too;
   * frames a peer without an XDP program drops are not counted anywhere.)
   */
  refused: number;
  /** Wall time of the sending (ms). */
  elapsedMs: number;
  /** sent / elapsed. */
  packetsPerSecond: number;
  /** Bytes of the frames sent (without Ethernet preamble/FCS). */
  bytes: number;
  /**
   * Frames of a last batch a signal interrupted (EINTR): some of them went out, the kernel does
   * not say how many; they are not in `sent`.
   */
  unconfirmed: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The cycling program for distinct packets (live-frames-cycle.ts), when every packet fits it and
 * the kernel takes it; undefined otherwise (then one syscall a packet, as before).
 */
function tryFrameCycle(sys: Sys, packets: readonly Uint8Array[]): FrameCycle | undefined {
  if (packets.some((p) => p.byteLength > CYCLE_MAX_FRAME)) return undefined;
  try {
    return loadFrameCycle(sys, packets);
  } catch (e) {
    // A kernel without bpf_xdp_store_bytes (or a refusing verifier): the per-packet path.
    if (isLoadError(e)) return undefined;
    throw e;
  }
}

/**
 * Sends `packets` out of `iface` (in `netns`) until `count` frames or `durationS` seconds (one of
 * them, or both: whichever comes first), at most `rate` per second. One packet is sent with
 * `repeat` runs; several, one run each, in turn.
 */
export async function sendFrames(opts: SendOptions): Promise<SendResult> {
  const sys = opts.sys ?? defaultSys();
  if (opts.packets.length === 0) throw new UsageError("send: no packet to send");
  if (opts.count === undefined && opts.durationS === undefined) {
    throw new UsageError("send: say how much: a count or a duration", { hint: "--count N or --duration S" });
  }
  for (const p of opts.packets) {
    if (p.byteLength < 14)
      throw new UsageError(`send: a ${p.byteLength}-byte packet is shorter than an Ethernet header`);
  }
  if (opts.netns !== undefined) checkNetns(opts.netns);
  const ifindex = inNetns(sys, opts.netns, () => {
    const i = sys.ifNameToIndex(opts.iface);
    if (i === 0) {
      throw new UsageError(
        `send: no interface ${opts.iface}${opts.netns === undefined ? "" : ` in network namespace ${opts.netns}`}`,
        { hint: "give a test interface (one end of a veth) and, if it is in a namespace, --netns NAME" },
      );
    }
    return i;
  });
  const txDropped = (): bigint => inNetns(sys, opts.netns, () => linkTxDropped(sys, ifindex));
  const cycle = opts.packets.length > 1 ? tryFrameCycle(sys, opts.packets) : undefined;
  const prog: Fd =
    cycle?.prog ??
    loadProgram(sys, {
      type: ProgType.xdp,
      insns: encodeInstructions(assemble(`mov %r0, ${XdpAction.TX}\nexit`)),
      license: "GPL",
      name: "tsbpf_send",
    }).fd;
  // Bytes of the first k packets of the turn, for the bytes of any run of frames.
  const lengths = opts.packets.map((p) => p.byteLength);
  const prefix = [0];
  for (const l of lengths) prefix.push((prefix.at(-1) as number) + l);
  const cycleBytes = prefix.at(-1) as number;
  const bytesOf = (from: number, n: number): number => {
    const k = lengths.length;
    const start = from % k;
    const whole = Math.floor(n / k);
    const rest = n % k;
    const end = start + rest;
    const partial =
      end <= k
        ? (prefix[end] as number) - (prefix[start] as number)
        : cycleBytes - (prefix[start] as number) + (prefix[end - k] as number);
    return whole * cycleBytes + partial;
  };
  const limit = opts.count ?? Number.POSITIVE_INFINITY;
  const deadline = opts.durationS === undefined ? Number.POSITIVE_INFINITY : opts.durationS * 1000;
  // With a rate, each step sends 10 ms worth of frames, then waits for the clock.
  const perStep = opts.rate === undefined ? CHUNK : Math.max(1, Math.round(opts.rate / 100));
  let sent = 0;
  let bytes = 0;
  let unconfirmed = 0;
  const dropped0 = txDropped();
  const t0 = performance.now();
  try {
    // One syscall repeats a frame: the one packet, or the cycling program's template.
    const one = opts.packets.length === 1 || cycle !== undefined;
    let i = 0;
    while (sent < limit && !opts.signal?.aborted) {
      const elapsed = performance.now() - t0;
      if (elapsed >= deadline) break;
      if (opts.rate !== undefined) {
        const due = (sent / opts.rate) * 1000;
        if (due > elapsed) {
          await sleep(Math.min(due - elapsed, deadline - elapsed));
          continue;
        }
      }
      // One packet: one syscall repeats it. Several: one syscall each, a batch per namespace switch.
      const n = one ? Math.min(perStep, limit - sent) : Math.min(perStep, 4096, limit - sent);
      let done = 0;
      try {
        inNetns(sys, opts.netns, () => {
          for (let k = 0; k < (one ? 1 : n); k++) {
            const pkt = opts.packets[i % opts.packets.length] as Uint8Array;
            i++;
            testRun(sys, prog.value, {
              dataIn: pkt,
              dataOutSize: 0,
              repeat: one ? n : 1,
              ctxIn: xdpContext({ dataLen: pkt.byteLength, ingressIfindex: ifindex }),
              flags: TestRunFlag.XDP_LIVE_FRAMES,
              batchSize: BATCH,
            });
            bytes += bytesOf(i - 1, one ? n : 1);
            if (cycle !== undefined) i += n - 1;
            done += one ? n : 1;
          }
        });
      } catch (e) {
        if (sent === 0 && done === 0) throw liveFramesRefusal(e);
        // A signal (Ctrl+C, SIGTERM) interrupts a long run: stop there.
        if (!(isLoadError(e) && e.errno === Errno.EINTR)) throw e;
        sent += done;
        unconfirmed = n - done;
        break;
      }
      sent += n;
      // Let signals and timers in between chunks.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    if (cycle !== undefined) cycle.close();
    else prog.close();
  }
  const elapsedMs = performance.now() - t0;
  // The peer refuses a frame in the syscall that hands it over (the flush of its batch): the
  // count is complete when the last run returns.
  const refused = Number(txDropped() - dropped0);
  return {
    sent,
    refused,
    elapsedMs,
    packetsPerSecond: elapsedMs > 0 ? (sent / elapsedMs) * 1000 : 0,
    bytes,
    unconfirmed,
  };
}

/**
 * The first live-frames run's error, said plainly when the kernel refuses the mode itself: EPERM
 * although this process has every capability bpf() asks for in the host's user namespace, and
 * the XDP program it runs was loaded. Some hardened or sandboxed kernels refuse
 * BPF_F_TEST_XDP_LIVE_FRAMES to root (6.18.44-fc-v1300 does), where the generic permission hint
 * would send the user looking for a capability they have.
 */
function liveFramesRefusal(e: unknown): unknown {
  if (!isLoadError(e) || e.errno !== Errno.EPERM) return e;
  const caps = readEffectiveCaps();
  if (caps === undefined || missingCaps(caps).length > 0 || inOwnUserNamespace()) return e;
  const err = new LoadError(
    "send: this kernel refuses BPF_PROG_TEST_RUN's live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES): EPERM with every capability",
    {
      cause: e,
      hint: "the kernel let this process load the XDP program that sends, so it refuses this mode only (a hardened or sandboxed kernel build, or an LSM policy): tsbpf send cannot transmit on this machine",
    },
  );
  err.errno = Errno.EPERM;
  return err;
}
