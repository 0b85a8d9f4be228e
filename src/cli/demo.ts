import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { LoadedCollection } from "../backend/types.js";
import { Collection } from "../collection.js";
import { LoadError } from "../errors.js";
import { arp, buildPacket, eth, ipv4, tcp, udp } from "../net/index.js";
import { describePacket } from "../net/parse.js";
import { loadCollectionSpec } from "../object/load-collection-spec.js";
import type { CollectionSpec } from "../object/types.js";
import { type Command, parseCommandArgs } from "./args.js";
import type { CliIo } from "./io.js";
import { traceText } from "./run-report.js";
import { verdictNameFor } from "../abi/tc.js";

const HELP = `usage: tsbpf demo [--json]

Runs the tail-call dispatcher of examples/tail-call on the built-in VM: loads the shipped object,
wires prog_array slot 0 to port8080_prog and slot 1 to port22_prog, and sends a built-in capture
through main_prog. Needs no root, no clang and no network.`;

/** Where the shipped example object lives, relative to this file in dist/src/cli/. */
const EXAMPLE = new URL("../../../examples/tail-call/tail_call.bpf.o", import.meta.url);

const CLIENT = { src: "10.0.0.1", dst: "10.0.0.2" };
const MACS = { src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" };

/** The built-in capture: what the seed's dispatcher must tell apart. */
export function demoCapture(): { label: string; packet: Uint8Array }[] {
  const tcpTo = (dport: number, flags: string) =>
    buildPacket([eth(MACS), ipv4(CLIENT), tcp({ sport: 40000 + (dport % 1000), dport, flags })]);
  return [
    { label: "TCP SYN to 8080", packet: tcpTo(8080, "S") },
    { label: "TCP SYN to 22", packet: tcpTo(22, "S") },
    { label: "TCP SYN to 443", packet: tcpTo(443, "S") },
    { label: "TCP data to 8080", packet: tcpTo(8080, "PA") },
    { label: "UDP to 53", packet: buildPacket([eth(MACS), ipv4(CLIENT), udp({ sport: 5353, dport: 53 })]) },
    {
      label: "ARP who-has",
      packet: buildPacket([
        eth({ src: MACS.src, dst: "ff:ff:ff:ff:ff:ff" }),
        arp({ op: 1, senderMac: MACS.src, senderIp: CLIENT.src, targetIp: CLIENT.dst }),
      ]),
    },
  ];
}

/** `tsbpf demo`: the seed's system, end to end, on the VM. */
export const demoCommand: Command = async (args, io) => {
  const { values } = parseCommandArgs("demo", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const path = fileURLToPath(EXAMPLE);
  const spec = loadCollectionSpec(new Uint8Array(await readFile(path)), { file: "tail_call.bpf.o" });
  const coll = await Collection.load(spec, { backend: "vm" });
  try {
    await runDemo(coll, spec, values.json === true, io);
  } finally {
    coll.close();
  }
  return 0;
};

/** Wires the dispatcher's slots and sends the built-in capture through it, printing each result. */
async function runDemo(
  coll: LoadedCollection,
  spec: CollectionSpec,
  json: boolean,
  io: CliIo,
): Promise<void> {
  const progArray = coll.maps.prog_array;
  const [p8080, p22, main] = [
    coll.programs.port8080_prog,
    coll.programs.port22_prog,
    coll.programs.main_prog,
  ];
  if (progArray === undefined || p8080 === undefined || p22 === undefined || main === undefined) {
    throw new LoadError(
      "the shipped example object lacks prog_array, main_prog, port8080_prog or port22_prog",
      {
        file: "tail_call.bpf.o",
        hint: "rebuild it with scripts/build-bpf.sh",
      },
    );
  }
  progArray.set(0, p8080);
  progArray.set(1, p22);

  const w = (s = "") => io.stdout(`${s}\n`);
  if (!json) {
    w("tsbpf demo: the tail-call dispatcher on the built-in VM (no kernel, no root)");
    w(`object:  examples/tail-call/tail_call.bpf.o (${Object.keys(spec.programs).join(", ")})`);
    w("wiring:  prog_array[0] = port8080_prog, prog_array[1] = port22_prog");
    w();
  }
  const verdicts = new Map<string, number>();
  const jumps = new Map<string, number>();
  let lines = 0;
  const capture = demoCapture();
  const t0 = performance.now();
  for (const [i, { packet }] of capture.entries()) {
    const r = await main.run(packet);
    const verdict = verdictNameFor(main.spec.type, r.retval) ?? String(r.retval);
    verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
    for (const p of (r.chain ?? []).slice(1)) jumps.set(p, (jumps.get(p) ?? 0) + 1);
    lines += r.trace.length;
    if (json) {
      w(
        JSON.stringify({
          packet: i + 1,
          summary: describePacket(packet),
          verdict,
          retval: r.retval,
          chain: r.chain,
          trace: r.trace,
        }),
      );
      continue;
    }
    w(`#${i + 1}  ${describePacket(packet).padEnd(44)} ${verdict.padEnd(9)} ${(r.chain ?? []).join(" -> ")}`);
    // The lines as trace_pipe shows them on Linux (comm-pid [cpu] flags timestamp: ...).
    for (const m of r.trace) {
      const ts = ((performance.now() - t0) / 1000).toFixed(6).padStart(12);
      w(`    tsbpf-vm-${process.pid} [000] ..... ${ts}: bpf_trace_printk: ${traceText(m)}`);
    }
  }
  if (!json) {
    const v = [...verdicts].map(([k, c]) => `${c} ${k}`).join(", ");
    const j = [...jumps].map(([k, c]) => `${k} ${c}`).join(", ") || "none";
    w();
    w(
      `summary: ${capture.length} packets: ${v}; tail calls: ${j}; ${lines} trace line${lines === 1 ? "" : "s"}`,
    );
  }
}
