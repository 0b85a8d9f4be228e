/**
 * Pieces of the attach tests: the CLI as a child process, a veth pair into a network namespace
 * of the test's own, TCP SYNs sent across it, and the trace lock every trace_pipe user holds.
 */
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
 * A UDP sender's Python: datagrams to ARGV[1]:9, ARGV[2] of them or until SIGTERM, then a summary
 * line as `send --json` prints.
 */
const UDP_SENDER = `
import json, signal, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
limit = int(sys.argv[2]) if len(sys.argv) > 2 else -1
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
sent, t0, payload, dst = 0, time.monotonic(), b"x" * 14, (sys.argv[1], 9)
while not stop and sent != limit:
    try:
        s.sendto(payload, dst)
        sent += 1
    except OSError:
        time.sleep(0.0001)
dt = time.monotonic() - t0
print(json.dumps({"sent": sent, "refused": 0, "packetsPerSecond": sent / dt if dt > 0 else 0}))
`;

/** Sets the peer's MAC as a permanent neighbour of the host end: the peer's XDP drops its ARP replies. */
function pinPeerNeighbour(net: VethNs): void {
  const links = JSON.parse(
    execFileSync("ip", ["-n", net.ns, "-j", "link", "show", "dev", net.peerIf]).toString(),
  ) as { address: string }[];
  const mac = links[0]?.address;
  if (mac === undefined) throw new Error(`no MAC address for ${net.peerIf}`);
  execFileSync("ip", ["neigh", "replace", net.peerIp, "lladdr", mac, "dev", net.hostIf, "nud", "permanent"]);
}

/**
 * `count` UDP datagrams from the host end of `net` to the peer's address through the host's
 * stack, for a kernel that refuses `tsbpf send`'s live-frames mode (liveFramesRefusal).
 */
export function sendUdp(net: VethNs, count: number): void {
  pinPeerNeighbour(net);
  execFileSync("python3", ["-c", UDP_SENDER, net.peerIp, String(count)]);
}

/**
 * Steady traffic into the test's pipeline without `tsbpf send`, for a kernel that refuses its
 * live-frames mode (liveFramesRefusal): UDP datagrams from the host end of `net` to the peer's
 * address, through the host's stack, as fast as Python sends them (some 10^5 a second). The
 * peer's MAC is set as a permanent neighbour first, since the peer's XDP program drops its ARP
 * replies. SIGTERM stops it; its last line is a summary as `send --json` prints.
 */
export function startUdpFlood(net: VethNs): CliProcess {
  pinPeerNeighbour(net);
  return startProcess(["python3", "-c", UDP_SENDER, net.peerIp]);
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
