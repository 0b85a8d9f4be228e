/**
 * Part 4 (issue 14): replaying a large capture. Writes a capture of `packets` packets (TCP to
 * 8080, 22 and 443, UDP, ARP in turn) and a pipeline file for the seed's dispatcher with
 * counter stages (test/bpf/bench/dispatch_counter.bpf.o), then times the whole command
 * `tsbpf run PIPELINE --pcap CAPTURE --summary` as a process, from spawn to exit, and the same
 * replay in-process through `VmProgram.runBatch` (no allocation per packet).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writePcap } from "../src/net/pcap.js";
import type { VmProgram } from "../src/vm/vm-collection.js";
import { loadVm, programOf, readSpec } from "./engines.js";
import { arpPacket, tcpTo, udpPacket } from "./packets.js";
import { median, nowNs } from "./stats.js";

/** What part 4 measured. */
export interface ReplayResult {
  packets: number;
  /** Median wall time of the whole `run --pcap --summary` command, seconds. */
  commandS?: number;
  /** Median in-process `runBatch` time for all packets, ns per packet. */
  batchNsPerPacket: number;
  /** Node's bare start-up (`node -e 0`), seconds, for scale. */
  nodeStartupS: number;
  runs: number;
  /** Why the command could not be timed, if it could not. */
  skipped?: string;
}

const OBJECT = "test/bpf/bench/dispatch_counter.bpf.o";

function capture(n: number): Uint8Array[] {
  const kinds = [tcpTo(8080), tcpTo(22), tcpTo(443), udpPacket(16), arpPacket()];
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(kinds[i % kinds.length] as Uint8Array);
  return out;
}

function timeSpawn(args: string[]): number {
  const t = nowNs();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 26 });
  const s = (nowNs() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${args.join(" ")}: exit ${r.status}: ${r.stderr.toString()}`);
  return s;
}

/** Runs part 4 on `packets` packets, `runs` times each. */
export async function benchReplay(opts: { packets: number; runs: number }): Promise<ReplayResult> {
  const packets = capture(opts.packets);
  // In-process: one batch per trial.
  const coll = loadVm(readSpec(OBJECT), "compiled");
  const pa = coll.maps.prog_array;
  pa?.set(0, programOf(coll, "port8080_prog"));
  pa?.set(1, programOf(coll, "port22_prog"));
  const prog = programOf(coll, "main_prog") as VmProgram;
  const retvals = new Uint32Array(packets.length);
  prog.runBatch(packets.slice(0, 10_000), { retvals });
  const batch: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    const t = nowNs();
    prog.runBatch(packets, { retvals });
    batch.push((nowNs() - t) / packets.length);
  }
  coll.close();

  const nodeStartupS = median(Array.from({ length: opts.runs }, () => timeSpawn(["-e", "0"])));
  const out: ReplayResult = {
    packets: opts.packets,
    batchNsPerPacket: median(batch),
    nodeStartupS,
    runs: opts.runs,
  };
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-replay-"));
  try {
    const pcap = join(dir, "replay.pcap");
    writeFileSync(pcap, writePcap(packets));
    const yaml = join(dir, "counters.yaml");
    writeFileSync(
      yaml,
      `name: seed-counters\nobject: ${resolve(OBJECT)}\nentry: main_prog\nslots:\n  prog_array:\n    0: port8080_prog\n    1: port22_prog\n`,
    );
    const cli = resolve("bin/tsbpf.js");
    out.commandS = median(
      Array.from({ length: opts.runs }, () => timeSpawn([cli, "run", yaml, "--pcap", pcap, "--summary"])),
    );
  } catch (e) {
    out.skipped = e instanceof Error ? e.message : String(e);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
