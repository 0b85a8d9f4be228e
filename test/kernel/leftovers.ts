/**
 * The sweep of what killed test runs left behind (scripts/run-tests.mjs runs it before the suite):
 * kernel tests name their network namespaces, veths and bpffs pins after their pid, and remove
 * them in `finally`, which a SIGKILL (a timeout, Ctrl+C twice) never reaches. A leftover whose pid
 * no longer runs is removed; one whose pid is alive never is, since other worktrees run their
 * tests at the same time.
 *
 * The names, as the tests make them (attach-support.ts, collection-seed, attach-cli, the pinned
 * pipeline tests):
 * - namespaces `tsbpf-att-<pid % 100000><tag>` (their veth ends go with them);
 * - veths on the host `tsa|tsb<pid % 100000><tag>`, `tss<pid>[p]`, `tsb<pid>[p]`;
 * - bpffs entries `/sys/fs/bpf/tsbpf-<word>-...-<pid>[-<word>]`, and test pipelines under
 *   /sys/fs/bpf/tsbpf/ (`upgrade-test-<pid>`, `watch-test-<pid>`, `send-refused-<pid>`...).
 * Names without a pid (random tags) are left alone: nothing says whose they are.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

/** Where the sweep looks; a test points it at its own directories. */
export interface SweepPlaces {
  /** The bpffs root whose `tsbpf-*` entries are the tests'. */
  bpffs: string;
  /** The pin root of pipelines (where the under-load and watch tests pin theirs). */
  pipelines: string;
}

/** What the sweep removed, by kind. */
export interface SweepResult {
  netns: string[];
  veths: string[];
  pins: string[];
}

const NETNS = /^tsbpf-att-(\d+)[a-z]+$/;
const VETH = /^ts[abs](\d+)[a-z]*$/;
const BPFFS = /^tsbpf-(?:[a-z][a-z0-9]*-)+(\d+)(?:-[a-z]+)?$/;
const PIPELINE =
  /^(?:tc-)?(?:upgrade-test|upgrade-race|watch-test|stats-test|send-refused|upgrade-grace|tc-filter-upgrade)-(\d+)$/;
/** Namespace and veth names keep the pid modulo this (interface names have 15 characters). */
const SHORT_PID = 100_000;

/**
 * The pid a test's namespace or veth name carries (pid % 100000, as the tests shorten it), or
 * undefined when the sweep does not know the name (it is then never removed).
 */
export function leftoverPid(kind: "netns" | "veth", name: string): number | undefined {
  const m = (kind === "netns" ? NETNS : VETH).exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** The pids running now. */
function livePids(): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Removes the leftovers of test processes that no longer run: namespaces first (with the veth
 * ends and tc filters in them), then host veths, then bpffs entries (a pinned link of a gone
 * interface attaches nothing; its pins go with the directory). Needs root; returns what went.
 */
export function sweepLeftovers(
  places: SweepPlaces = { bpffs: "/sys/fs/bpf", pipelines: "/sys/fs/bpf/tsbpf" },
): SweepResult {
  const pids = livePids();
  const live = new Set(pids);
  const shortLive = new Set(pids.map((p) => p % SHORT_PID));
  const dead = (re: RegExp, name: string, short: boolean): boolean => {
    const m = re.exec(name);
    if (m?.[1] === undefined) return false;
    // Short pids (pid % 100000) may be any running pid with that remainder.
    return !(short ? shortLive : live).has(Number(m[1]));
  };
  const out: SweepResult = { netns: [], veths: [], pins: [] };

  for (const ns of list("/run/netns")) {
    if (!dead(NETNS, ns, true)) continue;
    if (spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" }).status === 0) out.netns.push(ns);
  }

  let links: { ifname: string }[] = [];
  try {
    links = JSON.parse(
      execFileSync("ip", ["-j", "link", "show", "type", "veth"], { encoding: "utf8" }) || "[]",
    );
  } catch {
    // No ip, or no veth support: nothing to sweep there.
  }
  for (const { ifname } of links) {
    if (!dead(VETH, ifname, true)) continue;
    // Deleting one end deletes its peer: the peer may already be gone.
    if (spawnSync("ip", ["link", "del", ifname], { stdio: "ignore" }).status === 0) out.veths.push(ifname);
  }

  const pins = [
    ...list(places.bpffs)
      .filter((n) => dead(BPFFS, n, false))
      .map((n) => join(places.bpffs, n)),
    ...list(places.pipelines)
      .filter((n) => dead(PIPELINE, n, false))
      .map((n) => join(places.pipelines, n)),
  ];
  for (const p of pins) {
    try {
      rmSync(p, { recursive: true, force: true });
      out.pins.push(p);
    } catch {
      // Busy or not ours to remove: left for the next sweep.
    }
  }
  return out;
}

/** `pid_max`: the highest pid plus one. */
export function pidMax(): number {
  try {
    return Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim());
  } catch {
    return 32768;
  }
}
