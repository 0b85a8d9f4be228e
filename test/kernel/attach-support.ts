/**
 * Pieces of the attach tests: the CLI as a child process, a veth pair into a network namespace
 * of the test's own, TCP SYNs sent across it, and the trace lock every trace_pipe user holds.
 */
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { release } from "node:os";
import { resolve } from "node:path";
import { after } from "node:test";
import { LoadError } from "../../src/errors.js";
import { sendFrames } from "../../src/kernel/live-frames.js";

/**
 * Children started by {@link startProcess} that have not closed yet. A test that fails before it
 * stops its child (a `waitFor` that times out) would otherwise leave it running, and its pipes
 * would keep the test file's process alive: a hang instead of a failure. Whatever is left is
 * killed once the file's tests are over.
 */
const live = new Set<ChildProcessWithoutNullStreams>();
after(() => {
  for (const c of live) c.kill("SIGKILL");
});

/** The argv that runs the tsbpf CLI as a real process. */
export function cliArgv(args: string[]): string[] {
  return [resolve("bin/tsbpf.js"), ...args];
}

/** Runs the CLI to completion. */
export function runCli(
  args: string[],
  prefix: string[] = [],
): { status: number | null; stdout: string; stderr: string } {
  const argv = cliArgv(args);
  const [cmd, ...rest] =
    prefix.length > 0 ? [...prefix, process.execPath, ...argv] : [process.execPath, ...argv];
  const r = spawnSync(cmd as string, rest, { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A running `tsbpf attach` whose output is collected as it comes. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout matches `re` (rejects after `ms`, or when the process exits first). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts the CLI in the background. */
export function startCli(args: string[], prefix: string[] = []): CliProcess {
  return startProcess([process.execPath, ...cliArgv(args)], prefix);
}

/** Starts any command in the background (after `prefix`, e.g. nsenter), collecting its output. */
export function startProcess(command: string[], prefix: string[] = []): CliProcess {
  const argv = [...prefix, ...command];
  // `ip netns exec` execs the command, so signals sent to the child reach node itself.
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: "pipe" });
  live.add(child);
  child.on("close", () => live.delete(child));
  let out = "";
  let err = "";
  let done = false;
  const waiters: (() => void)[] = [];
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((res) =>
    child.on("close", (code) => {
      done = true;
      for (const w of waiters) w();
      res(code);
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, ms = 20_000) {
      return new Promise((res, rej) => {
        const t = setTimeout(
          () => rej(new Error(`timed out waiting for ${re}; stdout: ${out}; stderr: ${err}`)),
          ms,
        );
        const check = () => {
          if (re.test(out)) {
            clearTimeout(t);
            res();
          } else if (done) {
            clearTimeout(t);
            rej(new Error(`exited before ${re}; stdout: ${out}; stderr: ${err}`));
          }
        };
        waiters.push(check);
        check();
      });
    },
  };
}

/** A veth pair: `hostIf` in the root namespace (10.x.y.1), `peerIf` in namespace `ns` (10.x.y.2). */
export interface VethNs {
  ns: string;
  hostIf: string;
  peerIf: string;
  hostIp: string;
  peerIp: string;
  remove(): void;
}

/** The `10.x.y` prefixes of the IPv4 addresses of the root namespace's interfaces. */
function hostSubnets(): Set<string> {
  const out = execFileSync("ip", ["-4", "-j", "addr", "show"], { encoding: "utf8" });
  const links = JSON.parse(out || "[]") as { addr_info?: { local?: string }[] }[];
  return new Set(
    links.flatMap((l) => (l.addr_info ?? []).map((a) => /^10\.\d+\.\d+/.exec(a.local ?? "")?.[0] ?? "")),
  );
}

/**
 * Creates a namespace and a veth pair with unique names derived from the pid and `tag`, on a
 * /24 no other interface of the host has: two host interfaces on one prefix (another test's, one
 * a killed run left) would route one's packets into the other's namespace, and a test counting
 * its packets would count another's.
 */
export function createVethNs(tag: string): VethNs {
  const id = `${process.pid % 100000}${tag}`;
  const ns = `tsbpf-att-${id}`;
  const hostIf = `tsa${id}`.slice(0, 15);
  const peerIf = `tsb${id}`.slice(0, 15);
  const ip = (...a: string[]) => execFileSync("ip", a, { stdio: "pipe" });
  const remove = (): void => {
    spawnSync("ip", ["link", "del", hostIf], { stdio: "ignore" });
    spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  };
  remove();
  const octet = (process.pid % 200) + 20;
  let third = tag.charCodeAt(0) % 250;
  const used = hostSubnets();
  for (let i = 0; i < 250 && used.has(`10.${octet}.${third}`); i++) third = (third + 1) % 250;
  const hostIp = `10.${octet}.${third}.1`;
  const peerIp = `10.${octet}.${third}.2`;
  try {
    ip("netns", "add", ns);
    ip("link", "add", hostIf, "type", "veth", "peer", "name", peerIf);
    ip("link", "set", peerIf, "netns", ns);
    ip("addr", "add", `${hostIp}/24`, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    ip("-n", ns, "addr", "add", `${peerIp}/24`, "dev", peerIf);
    ip("-n", ns, "link", "set", peerIf, "up");
    ip("-n", ns, "link", "set", "lo", "up");
  } catch (e) {
    remove();
    throw e;
  }
  return { ns, hostIf, peerIf, hostIp, peerIp, remove };
}

/**
 * Why tests that send with `tsbpf send` cannot run here, or undefined when they can: some kernels
 * refuse BPF_PROG_TEST_RUN's live-frames mode even to root (6.18.44-fc-v1300 does). Tried with
 * one frame out of a veth pair of its own, removed after.
 */
export async function liveFramesRefusal(): Promise<string | undefined> {
  const net = createVethNs("lf");
  try {
    await sendFrames({ iface: net.hostIf, packets: [new Uint8Array(60)], count: 1 });
    return undefined;
  } catch (e) {
    if (!(e instanceof LoadError && e.message.includes("live-frames mode"))) throw e;
    return `this kernel (${release()}) refuses BPF_PROG_TEST_RUN's live-frames mode to root, which tsbpf send uses (${e.message})`;
  } finally {
    net.remove();
  }
}

/**
 * Which way UDP test traffic crosses a test's veth pair: "host", from inside the namespace to the
 * host end (through the peer's tc egress hook); "peer", from the host into the namespace (through
 * the peer's XDP program).
 */
export type Toward = "host" | "peer";

/**
 * A UDP sender: `count` packets to ADDR:9 (0: until SIGTERM, and at most 60 s whatever happens),
 * 256 in flight at a time; prints {sent, failed, packetsPerSecond}. A packet the tc program
 * drops still counts as sent (the kernel reports ENOBUFS for it only with IP_RECVERR). Each batch
 * yields to the event loop, or SIGTERM would never be seen (the send callbacks of a socket that
 * never blocks keep the loop busy).
 */
const SENDER = `
const [addr, count] = [process.argv[1], Number(process.argv[2])];
const s = require("node:dgram").createSocket("udp4");
const buf = Buffer.alloc(18);
let sent = 0, failed = 0, stop = false;
process.on("SIGTERM", () => { stop = true; });
const t0 = performance.now();
(async () => {
  while (!stop && (count === 0 || sent + failed < count) && performance.now() - t0 < 60000) {
    await new Promise((r) => setImmediate(r));
    const n = count === 0 ? 256 : Math.min(256, count - sent - failed);
    await new Promise((r) => {
      let left = n;
      for (let i = 0; i < n; i++)
        s.send(buf, 9, addr, (e) => { if (e) failed++; else sent++; if (--left === 0) r(); });
    });
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ sent, failed, packetsPerSecond: sent / secs }));
  process.exit(0);
})();`;

/** What a UDP sender reports when it ends. */
export interface SentUdp {
  sent: number;
  failed: number;
  packetsPerSecond: number;
}

/**
 * Starts a UDP sender across `net` `toward` one end (see {@link Toward}): `count` packets, 0
 * until SIGTERM. The XDP tests use it where the kernel refuses `tsbpf send`'s live-frames mode
 * (liveFramesRefusal).
 */
export function sendUdp(net: VethNs, count: number, toward: Toward = "host"): CliProcess {
  return toward === "host"
    ? startProcess(
        [process.execPath, "-e", SENDER, net.hostIp, String(count)],
        ["ip", "netns", "exec", net.ns],
      )
    : startProcess([process.execPath, "-e", SENDER, net.peerIp, String(count)]);
}

/** Waits for a sender to exit (status 0) and reads its report. */
export async function sentUdp(p: CliProcess): Promise<SentUdp> {
  assert.equal(await p.exited, 0, p.stderr());
  return JSON.parse(p.stdout().trim().split("\n").at(-1) as string) as SentUdp;
}

/**
 * No traffic across `net` but a sender's `toward` that end: IPv6 off on both ends, and the
 * receiving end's address resolved for good on the sending end (a permanent neighbour entry), so
 * no ARP or router solicitation passes the hook, and none is needed where the program drops ARP.
 */
export function quietVeth(net: VethNs, toward: Toward = "host"): void {
  execFileSync("sysctl", ["-qw", `net.ipv6.conf.${net.hostIf}.disable_ipv6=1`]);
  execFileSync("ip", [
    "netns",
    "exec",
    net.ns,
    "sysctl",
    "-qw",
    `net.ipv6.conf.${net.peerIf}.disable_ipv6=1`,
  ]);
  const inNs = ["-n", net.ns];
  const recv =
    toward === "host"
      ? { ns: [], iface: net.hostIf, ip: net.hostIp }
      : { ns: inNs, iface: net.peerIf, ip: net.peerIp };
  const send = toward === "host" ? { ns: inNs, iface: net.peerIf } : { ns: [], iface: net.hostIf };
  const links = JSON.parse(
    execFileSync("ip", [...recv.ns, "-j", "link", "show", "dev", recv.iface]).toString(),
  );
  const mac = (links as { address: string }[])[0]?.address as string;
  execFileSync("ip", [
    ...send.ns,
    "neigh",
    "replace",
    recv.ip,
    "lladdr",
    mac,
    "dev",
    send.iface,
    "nud",
    "permanent",
  ]);
}

/**
 * Sends one TCP SYN to `ip:port` (from namespace `ns`, or from the root namespace when `ns` is
 * undefined) with a connect() that gives up quickly. Aimed at the test's own namespace, where
 * nothing listens, the SYN is answered with RST, so exactly one packet goes to the port.
 * Returns the sender's pid: XDP runs in softirq context, usually on the sender's task.
 */
export function sendSyn(ns: string | undefined, ip: string, port: number): number {
  const script = `
    const s = require("node:net").connect({ host: ${JSON.stringify(ip)}, port: ${port} });
    s.on("error", () => process.exit(0));
    s.on("connect", () => { s.destroy(); process.exit(0); });
    // Gone before the first retransmission (1 s): each call puts exactly one SYN on the wire.
    setTimeout(() => process.exit(0), 800);`;
  const argv =
    ns === undefined
      ? [process.execPath, "-e", script]
      : ["ip", "netns", "exec", ns, process.execPath, "-e", script];
  const r = spawnSync(argv[0] as string, argv.slice(1), { stdio: "ignore", timeout: 10_000 });
  if (r.status !== 0)
    throw new Error(`sending a SYN to ${ip}:${port} failed: ${r.error?.message ?? r.status}`);
  return r.pid;
}

/** Holds `flock /tmp/tsbpf-trace.lock` until the returned function is called. */
export async function traceLock(): Promise<() => Promise<void>> {
  const child = spawn("flock", ["/tmp/tsbpf-trace.lock", "sh", "-c", "echo locked; cat >/dev/null"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  await new Promise<void>((res, rej) => {
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("locked")) res();
    });
    child.on("error", rej);
    child.on("close", () => rej(new Error("flock exited")));
  });
  return async () => {
    const closed = new Promise<void>((res) => child.on("close", () => res()));
    child.stdin.end();
    await closed;
  };
}

/** XDP program ids attached to `iface` (in namespace `ns`, or the root one), from `ip -j link`. */
export function xdpProgIds(iface: string, ns?: string): number[] {
  const nsArgs = ns === undefined ? [] : ["-n", ns];
  const out = execFileSync("ip", [...nsArgs, "-j", "-d", "link", "show", "dev", iface], { encoding: "utf8" });
  const j = JSON.parse(out) as { xdp?: { prog?: { id: number }; attached?: { prog?: { id: number } }[] } }[];
  const ids: number[] = [];
  for (const l of j) {
    if (l.xdp?.prog?.id !== undefined) ids.push(l.xdp.prog.id);
    for (const a of l.xdp?.attached ?? []) if (a.prog?.id !== undefined) ids.push(a.prog.id);
  }
  return [...new Set(ids)];
}

/** Names of the BPF programs loaded in the kernel now, from bpftool. */
export function loadedProgramIds(): { id: number; name?: string; tag?: string }[] {
  const out = execFileSync("bpftool", ["-j", "prog", "show"], { encoding: "utf8" });
  return JSON.parse(out) as { id: number; name?: string; tag?: string }[];
}

/**
 * The ids of the BPF programs some process holds an fd of (a program's or a link's; from every
 * `/proc/PID/fdinfo`): programs another process is using, such as a benchmark or another
 * worktree's run loading the same objects, which a system-wide listing shows too.
 */
export function programsHeldByProcesses(): Set<number> {
  const held = new Set<number>();
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fdinfo`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        if (!/bpf-prog|bpf_link/.test(readlinkSync(`/proc/${pid}/fd/${fd}`))) continue;
        const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
        if (m?.[1] !== undefined) held.add(Number(m[1]));
      } catch {
        // closed meanwhile
      }
    }
  }
  return held;
}

/** The command prefix that runs a command as uid 65534 with no capabilities at all (a new user). */
export const AS_NOBODY: readonly string[] = [
  "setpriv",
  "--reuid=65534",
  "--regid=65534",
  "--clear-groups",
  "--inh-caps=-all",
  "--bounding-set=-all",
];
