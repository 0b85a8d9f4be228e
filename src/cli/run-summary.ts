import { ProgType } from "../abi/index.js";
import { verdictNameFor } from "../abi/tc.js";
import type { BpfProgram, RunOptions } from "../backend/types.js";
import type { PacketBatch } from "../net/pcap.js";
import { VmProgram } from "../vm/vm-collection.js";

/** Counts of a capture replayed with `run --summary`: verdicts, final stages, faults. */
export interface RunSummary {
  packets: number;
  /** Packets per verdict (r0). */
  verdicts: Map<number, number>;
  /** Packets per program that gave the verdict (the last of the chain; VM only). */
  stages: Map<string, number>;
  faults: number;
  /** The first fault's message and packet number (1-based), if any. */
  firstFault?: { packet: number; message: string };
  /** Time of running every packet, ns (on the VM, without the one-off preparation). */
  wallNs: number;
  /** VM only: the tier the packets ran on (see VmProgram.tier). */
  tier?: string;
}

/**
 * Runs `program` once on each packet and counts the outcomes. On the VM it is one
 * `VmProgram.runBatch` call (nothing allocated per packet); on the kernel, one test run per packet.
 */
export async function summarizeRuns(
  program: BpfProgram,
  packets: readonly Uint8Array[] | PacketBatch,
  ctx: Partial<RunOptions>,
): Promise<RunSummary> {
  const verdicts = new Map<number, number>();
  const stages = new Map<string, number>();
  const count = Array.isArray(packets) ? packets.length : (packets as PacketBatch).count;
  const out: RunSummary = { packets: count, verdicts, stages, faults: 0, wallNs: 0 };
  const t0 = process.hrtime.bigint();
  // runBatch lays packets out as XDP buffers; a tc program's packets go one run each.
  if (program instanceof VmProgram && program.spec.type === ProgType.xdp) {
    const res = program.runBatch(packets, {
      ...ctx,
      onPacket: (i, retval, p) => {
        verdicts.set(retval, (verdicts.get(retval) ?? 0) + 1);
        const last = p.chain[p.chain.length - 1] as string;
        stages.set(last, (stages.get(last) ?? 0) + 1);
        if (p.fault !== undefined) {
          out.faults++;
          out.firstFault ??= { packet: i + 1, message: p.fault.message };
        }
      },
    });
    // The batch's own time: the collection's one-off preparation is not in it.
    out.wallNs = res.durationNs;
    out.tier = res.tier;
    return out;
  } else {
    for (let i = 0; i < count; i++) {
      const r = await program.run(packetAt(packets, i), ctx);
      verdicts.set(r.retval, (verdicts.get(r.retval) ?? 0) + 1);
      if (r.fault !== undefined) {
        out.faults++;
        out.firstFault ??= { packet: i + 1, message: r.fault.message };
      }
    }
  }
  out.wallNs = Number(process.hrtime.bigint() - t0);
  if (program instanceof VmProgram) out.tier = program.tier;
  return out;
}

/** Packet `i` of an array or a packed batch. */
function packetAt(packets: readonly Uint8Array[] | PacketBatch, i: number): Uint8Array {
  if (Array.isArray(packets)) return packets[i] as Uint8Array;
  const b = packets as PacketBatch;
  const off = b.offsets[i] as number;
  return b.bytes.subarray(off, off + (b.lengths[i] as number));
}

/** `run --summary`'s text: one line per verdict and per final stage. */
export function formatSummary(s: RunSummary, engine: string, progType: number): string {
  const lines = [
    `packets: ${s.packets} (${engine}; ${(s.wallNs / Math.max(1, s.packets)).toFixed(0)} ns per packet)`,
    "verdicts:",
  ];
  for (const [v, n] of [...s.verdicts].sort((a, b) => a[0] - b[0])) {
    const name = verdictNameFor(progType, v);
    lines.push(`  ${name === undefined ? String(v) : `${name} (${v})`}: ${n}`);
  }
  if (s.stages.size > 0) {
    lines.push("verdict given by:");
    for (const [p, n] of [...s.stages].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)))
      lines.push(`  ${p}: ${n}`);
  }
  if (s.firstFault !== undefined) {
    lines.push(`faults: ${s.faults} (first: packet ${s.firstFault.packet}: ${s.firstFault.message})`);
  }
  return `${lines.join("\n")}\n`;
}

/** `run --summary --json`'s line. */
export function summaryJson(s: RunSummary, progType: number): object {
  return {
    summary: {
      packets: s.packets,
      verdicts: Object.fromEntries(
        [...s.verdicts].map(([v, n]) => [verdictNameFor(progType, v) ?? String(v), n]),
      ),
      stages: Object.fromEntries(s.stages),
      faults: s.faults,
      ...(s.firstFault === undefined ? {} : { firstFault: s.firstFault }),
      wallNs: s.wallNs,
      ...(s.tier === undefined ? {} : { tier: s.tier }),
    },
  };
}
