import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { packetFromSpec } from "../net/packet-spec.js";
import { readCapture } from "../net/pcapng.js";
import { type Command, intFlag, parseCommandArgs, usage } from "./args.js";

const HELP = `usage: tsbpf send --iface IF [--netns NAME] (--pcap FILE | --packet SPEC) [--rate PPS]
                  (--count N | --duration S) [--json]

A traffic generator for testing pipelines on test interfaces and namespaces (root): sends frames
out of IF, one end of a veth, so that the XDP program on its peer receives them. It uses
BPF_PROG_TEST_RUN's live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES): a two-instruction XDP_TX
program runs on the packet, and the kernel transmits each frame out of IF. One repeated packet
goes out at millions of packets per second, and so do a capture's distinct packets (up to 2048
bytes; the program rewrites each frame into the next packet of the capture).
Without an XDP program on the peer, veth drops the frames silently. Frames the peer refuses,
because its XDP ring is full (the sender outran it) or they are over its MTU, are counted by IF
as transmit drops (tx_dropped): the summary says how many of the frames sent never reached the
peer.
It sends only where it is told: give it a test interface, never a production one.

  --iface IF       the interface the frames leave through
  --netns NAME     IF is in network namespace NAME
  --packet SPEC    one packet, repeated, with the layers of the net builder separated by '/':
                   tcp:dport=8080,flags=S    (Ethernet and IPv4 10.0.0.1 -> 10.0.0.2 added)
                   eth:dst=02:00:00:00:00:02/ipv4:src=10.1.0.1,dst=10.1.0.2/udp:dport=53/payload:size=18
  --pcap FILE      the packets of a capture (pcap or pcapng), sent in turn, over and over
  --rate PPS       at most PPS frames per second (default: as fast as the kernel takes them)
  --count N        stop after N frames
  --duration S     stop after S seconds (with --count: whichever comes first)
  --json           {"sent","refused","elapsedMs","packetsPerSecond","bytes","unconfirmed"}`;

/** `tsbpf send --iface IF [--netns NAME] (--pcap F | --packet SPEC) [--rate PPS] [--count N|--duration S]`. */
export const sendCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("send", args, {
    iface: { type: "string" },
    netns: { type: "string" },
    packet: { type: "string" },
    pcap: { type: "string" },
    rate: { type: "string" },
    count: { type: "string" },
    duration: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const synopsis = "tsbpf send --iface IF (--packet SPEC | --pcap FILE) (--count N | --duration S)";
  if (positionals.length > 0) usage(`send: unexpected argument '${positionals[0]}'`, synopsis);
  if (values.iface === undefined) usage("send: missing --iface IF (a test interface)", synopsis);
  if ((values.packet === undefined) === (values.pcap === undefined)) {
    usage("send: give one of --packet SPEC or --pcap FILE", synopsis);
  }
  if (values.count === undefined && values.duration === undefined) {
    usage("send: say how much: --count N or --duration S", synopsis);
  }
  let durationS: number | undefined;
  if (values.duration !== undefined) {
    durationS = Number(values.duration);
    if (!Number.isFinite(durationS) || durationS <= 0)
      usage(`--duration takes seconds (> 0), not '${values.duration}'`);
  }
  const count = values.count === undefined ? undefined : intFlag("count", values.count, 0);
  const rate = values.rate === undefined ? undefined : intFlag("rate", values.rate, 0);
  if (rate === 0) usage("--rate takes a number of packets per second above 0");
  let packets: Uint8Array[];
  if (values.packet !== undefined) packets = [packetFromSpec(values.packet)];
  else {
    const file = resolve(io.cwd, values.pcap as string);
    packets = readCapture(new Uint8Array(await readFile(file)), file).packets.map((p) => p.data);
    if (packets.length === 0) usage(`send: ${values.pcap} holds no packet`);
  }
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const { sendFrames } = await import("../kernel/live-frames.js");
    const r = await sendFrames({
      iface: values.iface,
      packets,
      signal: stop.signal,
      ...(values.netns === undefined ? {} : { netns: values.netns }),
      ...(count === undefined ? {} : { count }),
      ...(durationS === undefined ? {} : { durationS }),
      ...(rate === undefined ? {} : { rate }),
    });
    if (values.json === true) io.stdout(`${JSON.stringify(r)}\n`);
    else {
      const what =
        packets.length === 1
          ? `one ${packets[0]?.byteLength}-byte packet, repeated`
          : `${packets.length} packets in turn`;
      io.stdout(
        `sent ${r.sent} frames (${what}) out of ${values.iface}${values.netns === undefined ? "" : ` (netns ${values.netns})`} in ${(r.elapsedMs / 1000).toFixed(3)} s: ${(r.packetsPerSecond / 1e6).toFixed(2)} M packets/s${r.unconfirmed > 0 ? ` (interrupted: up to ${r.unconfirmed} more of a last batch went out)` : ""}${r.refused > 0 ? `; ${r.refused} of them refused by the peer (its XDP ring was full, or the frame is over its MTU: ${values.iface}'s tx_dropped)` : ""}\n`,
      );
    }
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  return 0;
};
