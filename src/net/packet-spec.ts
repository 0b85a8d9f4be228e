/**
 * One packet written on a command line (`tsbpf send --packet SPEC`), built with the `net`
 * builder: layers separated by `/`, each `KIND` or `KIND:field=value,field=value`, e.g.
 * `tcp:dport=8080,flags=S` or `eth/ipv6:dst=fd00::2/udp:dport=53/payload:size=18`. Missing lower
 * layers are filled in (Ethernet, then IPv4 10.0.0.1 -> 10.0.0.2, or IPv6 for icmpv6), so the
 * shortest spec is just the transport.
 */
import { UsageError } from "../errors.js";
import { buildPacket } from "./build.js";
import type { Layer } from "./layers.js";

const KINDS = ["eth", "vlan", "ipv4", "ipv6", "tcp", "udp", "icmp", "icmpv6", "payload"] as const;
type Kind = (typeof KINDS)[number];
const NUMERIC = new Set([
  "sport",
  "dport",
  "seq",
  "ack",
  "window",
  "ttl",
  "tos",
  "id",
  "vid",
  "pcp",
  "type",
  "code",
  "hopLimit",
  "flowLabel",
  "trafficClass",
  "size",
  "etherType",
]);

/** The fields a spec may set per layer (what the builder's layers take as text or numbers). */
const FIELDS: Record<Kind, readonly string[]> = {
  eth: ["src", "dst", "type"],
  vlan: ["vid", "pcp", "type"],
  ipv4: ["src", "dst", "tos", "id", "ttl", "flags"],
  ipv6: ["src", "dst", "trafficClass", "flowLabel", "hopLimit"],
  tcp: ["sport", "dport", "seq", "ack", "flags", "window"],
  udp: ["sport", "dport"],
  icmp: ["type", "code", "id", "seq"],
  icmpv6: ["type", "code", "id", "seq"],
  payload: ["size", "text"],
};

const bad = (spec: string, why: string): UsageError =>
  new UsageError(`packet spec '${spec}': ${why}`, {
    hint: "LAYER[:field=value,...]/..., e.g. tcp:dport=8080,flags=S or eth/ipv4:dst=10.0.0.2/udp:dport=53",
  });

/** The packet `spec` describes, as bytes (see the module comment for the syntax). */
export function packetFromSpec(spec: string): Uint8Array {
  const layers: Layer[] = [];
  for (const part of spec.split("/")) {
    const [kindRaw, fieldsRaw] = part.split(/:(.*)/s, 2) as [string, string | undefined];
    const kind = kindRaw.trim() as Kind;
    if (!KINDS.includes(kind)) throw bad(spec, `unknown layer '${kindRaw}' (one of ${KINDS.join(", ")})`);
    const f: Record<string, unknown> = {};
    for (const kv of (fieldsRaw ?? "").split(",").filter((x) => x !== "")) {
      const eq = kv.indexOf("=");
      if (eq <= 0) throw bad(spec, `'${kv}' is not field=value`);
      const k = kv.slice(0, eq).trim();
      const v = kv.slice(eq + 1).trim();
      // A misspelt field would otherwise be dropped silently and the packet sent without it.
      if (!FIELDS[kind].includes(k)) {
        throw bad(spec, `${kind} has no field '${k}' (it has ${FIELDS[kind].join(", ")})`);
      }
      if (NUMERIC.has(k)) {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw bad(spec, `${k}=${v} is not a number`);
        f[k] = n;
      } else f[k] = v;
    }
    if (kind === "payload") {
      const size = (f.size as number | undefined) ?? 0;
      const text = f.text as string | undefined;
      layers.push({
        kind,
        bytes: text === undefined ? new Uint8Array(size) : new TextEncoder().encode(text),
      });
      continue;
    }
    layers.push({ kind, ...f } as Layer);
  }
  const has = (k: string): boolean => layers.some((l) => l.kind === k);
  const first = layers[0]?.kind;
  if (first !== "eth") {
    if (!has("ipv4") && !has("ipv6")) {
      layers.unshift(
        has("icmpv6")
          ? { kind: "ipv6", src: "fd00::1", dst: "fd00::2" }
          : { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" },
      );
    }
    layers.unshift({ kind: "eth" });
  } else if (!has("ipv4") && !has("ipv6") && layers.length > 1 && layers[1]?.kind !== "vlan") {
    layers.splice(1, 0, { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" });
  }
  for (const l of layers) {
    if ((l.kind === "ipv4" || l.kind === "ipv6") && (l.src === undefined || l.dst === undefined)) {
      const v6 = l.kind === "ipv6";
      l.src ??= v6 ? "fd00::1" : "10.0.0.1";
      l.dst ??= v6 ? "fd00::2" : "10.0.0.2";
    }
  }
  try {
    return buildPacket(layers);
  } catch (e) {
    if (e instanceof UsageError) throw bad(spec, e.message);
    throw e;
  }
}
