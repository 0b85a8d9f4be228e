/**
 * The seed's loader for the dispatcher whose stages report through a ring buffer
 * (port_events.bpf.c): load it in the kernel, fill the prog array, attach to an interface as XDP,
 * and print each stage's event as it comes until Ctrl+C. Run as root after `npx tsc -p .`:
 *
 *   node dist/examples/port-events/loader.js veth0
 *
 * The reader is `coll.events("events", { type: "port_event" })`: records decoded as the C struct
 * from the object's BTF, read from the ring buffer's mapped memory while the wait for new ones
 * runs off the main thread. It imports nothing but `tsbpf`, as a user's loader would.
 */
import { readFileSync } from "node:fs";
import { Collection, formatContext, isTsbpfError, loadCollectionSpec } from "tsbpf";

/** `struct port_event` as the reader decodes it. */
interface PortEvent {
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  stage: number;
  len: number;
}

const iface = process.argv[2];
if (iface === undefined) {
  console.error("usage: loader <interface> [port_events.bpf.o]");
  process.exit(1);
}
// From dist/examples/port-events/ the object is in the source tree's examples/port-events/.
const object = process.argv[3] ?? new URL("../../../examples/port-events/port_events.bpf.o", import.meta.url);

/** An IPv4 address kept in network byte order, read as a little- or big-endian u32. */
const ip = (n: number): string => {
  const b = new Uint8Array(new Uint32Array([n]).buffer);
  return Array.from(b).join(".");
};

try {
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(object)));
  await using coll = await Collection.load(spec, { backend: "kernel" });
  const { main_prog, port8080_prog, port22_prog } = coll.programs;
  const progArray = coll.maps.prog_array;
  if (!main_prog || !port8080_prog || !port22_prog || !progArray)
    throw new Error(`${object}: not the port-events object`);
  progArray.set(0, port8080_prog);
  progArray.set(1, port22_prog);
  // The reader first, then the attachment: no event is missed.
  const events = coll.events<PortEvent>("events", { type: "port_event" });
  const link = await main_prog.attachXdp({ iface });
  console.log(`XDP program loaded with ring-buffer events on interface ${iface} (ifindex: ${link.ifindex}).`);
  console.log("Press Ctrl+C to exit...");
  process.once("SIGINT", () => void events.close());
  for await (const e of events) {
    console.log(`port ${e.stage}: ${ip(e.saddr)}:${e.sport} -> ${ip(e.daddr)}:${e.dport} (${e.len} bytes)`);
  }
  link.close();
} catch (e) {
  if (isTsbpfError(e)) {
    console.error(
      `loader: ${e.detail}${formatContext(e.context)}${e.hint === undefined ? "" : ` (${e.hint})`}`,
    );
  } else {
    console.error(`loader: ${e instanceof Error ? e.message : String(e)}`);
  }
  process.exitCode = 1;
}
