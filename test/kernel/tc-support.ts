/**
 * Pieces of the tc pipeline tests: what runs on a tcx hook (BPF_PROG_QUERY; this machine's
 * bpftool predates tcx), and a program of "another tool" attached to a hook by other means than
 * tsbpf's pipeline code (a two-instruction sched_cls program on a tcx link of its own); the UDP
 * sender and quiet namespace of the upgrade-under-load tests; the pin root and pipeline files of
 * the pinned up/status/down tests.
 */
import { ProgType, TcAction } from "../../src/abi/index.js";
import { assemble } from "../../src/asm/assemble.js";
import { encodeInstructions } from "../../src/asm/instruction.js";
import { interfaceIndex } from "../../src/kernel/netlink-xdp.js";
import { inNetns } from "../../src/kernel/netns.js";
import { getProgramInfo } from "../../src/kernel/object-ops.js";
import { loadProgram } from "../../src/kernel/program-ops.js";
import { defaultSys } from "../../src/kernel/sys.js";
import { attachTcxIn, queryTcx, type TcHook } from "../../src/kernel/tc-link.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after } from "node:test";
import {
  downPipeline,
  pipelineStats,
  swapStage,
  type UpResult,
  upPipeline,
} from "../../src/pipeline/deploy.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";
import {
  type CliProcess,
  createVethNs,
  loadedProgramIds,
  quietVeth,
  runCli,
  sendUdp,
  sentUdp,
  type VethNs,
} from "./attach-support.js";

/** The tc dispatcher the tc tests attach (tc_main, two port stages in prog_array). */
export const TC_DISPATCH = resolve("test/bpf/tc/tc_dispatch.bpf.o");
/** The CLI's --tail arguments that fill TC_DISPATCH's prog array. */
export const TC_TAILS = ["--tail", "prog_array:0=tc_port8080", "--tail", "prog_array:1=tc_port22"];

/** `tsbpf attach` of the tc dispatcher on `iface`'s ingress as a cls_bpf filter, its two slots filled. */
export function tcFilterAttachArgs(iface: string): string[] {
  return [
    "attach",
    TC_DISPATCH,
    "--prog",
    "tc_main",
    "--iface",
    iface,
    "--tc",
    "ingress",
    "--tc-mode",
    "filter",
    ...TC_TAILS,
  ];
}

/** The programs on the tcx hooks of `iface` in namespace `ns`, as "hook:name" in run order. */
export function tcxProgs(iface: string, ns: string): string[] {
  const sys = defaultSys();
  const names = new Map(loadedProgramIds().map((p) => [p.id, p.name ?? "?"]));
  return inNetns(sys, ns, () => {
    const ifindex = interfaceIndex(sys, iface, ns);
    return (["ingress", "egress"] as const).flatMap((hook) =>
      queryTcx(sys, ifindex, hook).map((e) => `${hook}:${names.get(e.progId) ?? e.progId}`),
    );
  });
}

/** Another tool's tc program on a hook: `close()` detaches it. */
export interface ForeignTc {
  progId: number;
  close(): void;
}

/**
 * Attaches "another tool's" program, named `foreign_tc`, to `hook` of `iface` in `ns` through a
 * tcx link of its own. It returns TC_ACT_UNSPEC, so tcx runs the next program on the hook too.
 */
export function attachForeignTc(iface: string, ns: string, hook: TcHook): ForeignTc {
  const sys = defaultSys();
  const prog = loadProgram(sys, {
    type: ProgType.sched_cls,
    insns: encodeInstructions(assemble(`mov %r0, ${TcAction.UNSPEC}\nexit`)),
    license: "GPL",
    name: "foreign_tc",
  }).fd;
  try {
    const ifindex = inNetns(sys, ns, () => interfaceIndex(sys, iface, ns));
    const link = attachTcxIn(sys, ns, prog.value, ifindex, hook);
    const progId = getProgramInfo(sys, prog.value).id;
    return {
      progId,
      close: () => {
        link.close();
        prog.close();
      },
    };
  } catch (e) {
    prog.close();
    throw e;
  }
}

/** A filter as iproute2 shows it (`tc -j filter show`): priority, handle, name, program id. */
export interface ShownFilter {
  pref: number;
  handle: number;
  name: string;
  progId: number;
  directAction: boolean;
}

/** The cls_bpf filters on `hook` of `iface` in namespace `ns`, by iproute2. */
export function tcFilters(ns: string, iface: string, hook: "ingress" | "egress"): ShownFilter[] {
  const out = execFileSync("ip", ["netns", "exec", ns, "tc", "-j", "filter", "show", "dev", iface, hook], {
    encoding: "utf8",
  });
  const j = JSON.parse(out === "" ? "[]" : out) as {
    pref: number;
    kind: string;
    options?: { handle: string; bpf_name?: string; "direct-action"?: boolean; prog?: { id: number } };
  }[];
  return j
    .filter((f) => f.kind === "bpf" && f.options !== undefined)
    .map((f) => ({
      pref: f.pref,
      handle: Number(f.options?.handle),
      name: f.options?.bpf_name ?? "",
      progId: f.options?.prog?.id ?? 0,
      directAction: f.options?.["direct-action"] === true,
    }));
}

/** The kinds of the qdiscs of `iface` in namespace `ns`, by iproute2. */
export function qdiscKinds(ns: string, iface: string): string[] {
  const out = execFileSync("ip", ["netns", "exec", ns, "tc", "-j", "qdisc", "show", "dev", iface], {
    encoding: "utf8",
  });
  return (JSON.parse(out) as { kind: string }[]).map((q) => q.kind);
}

/** `tc ...` in namespace `ns`. */
export function tc(ns: string, ...args: string[]): void {
  execFileSync("ip", ["netns", "exec", ns, "tc", ...args], { stdio: "pipe" });
}

/** The versioned objects' counters map through its pin: [v1, v2, mixed, missed]. */
export function versionCounters(pin: string): bigint[] {
  const out = JSON.parse(
    execFileSync("bpftool", ["-j", "map", "dump", "pinned", `${pin}/main/maps/counters`]).toString(),
  ) as { formatted?: { key: number; value: number } }[];
  const r: bigint[] = [0n, 0n, 0n, 0n];
  for (const { formatted: e } of out) if (e !== undefined && e.key < 4) r[e.key] = BigInt(e.value);
  return r;
}

/** Where a pinned tc test keeps its pipeline files and pins, both removed when the file's tests end. */
export interface PinnedTcPlace {
  /** A bpffs directory of this test run: every pin dir lives under it, and it must vanish. */
  root: string;
  /** Writes pipeline file `NAME.yaml` (readable by nobody too) and returns its path. */
  pipelineFile(name: string, text: string): string;
  /**
   * A veth in a namespace of its own (`createVethNs(tag)`) and pipeline `NAME<pid>` for it, its
   * file written from `text(name, net)` and pinned at `root/NAME<pid>`.
   */
  pipeline(tag: string, name: string, text: (name: string, net: VethNs) => string): PinnedTcPipeline;
}

/** One test's pinned tc pipeline and its veth (see {@link PinnedTcPlace.pipeline}). */
export interface PinnedTcPipeline {
  net: VethNs;
  name: string;
  /** Its pin directory. */
  dir: string;
  /** Its pipeline file. */
  file: string;
  /** Takes it down if it is still up, removes the pin root and the namespace (for `finally`). */
  remove(): void;
}

/**
 * A temporary directory (mode 755, for the tests run as nobody) and a bpffs root named
 * `/sys/fs/bpf/tsbpf-TAG-PID`, for pinned tc tests; the directory is removed after the file's tests.
 */
export function pinnedTcPlace(tag: string): PinnedTcPlace {
  const tmp = mkdtempSync(join(tmpdir(), `tsbpf-${tag}-`));
  chmodSync(tmp, 0o755);
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const root = `/sys/fs/bpf/tsbpf-${tag}-${process.pid}`;
  const pipelineFile = (name: string, text: string): string => {
    const p = join(tmp, `${name}.yaml`);
    writeFileSync(p, text, { mode: 0o644 });
    return p;
  };
  return {
    root,
    pipelineFile,
    pipeline: (netTag, prefix, text) => {
      const net = createVethNs(netTag);
      const name = `${prefix}${process.pid}`;
      const dir = `${root}/${name}`;
      return {
        net,
        name,
        dir,
        file: pipelineFile(name, text(name, net)),
        remove: () => {
          if (existsSync(dir)) runCli(["down", "--pin", dir]);
          rmSync(root, { recursive: true, force: true });
          net.remove();
        },
      };
    },
  };
}

/** Asserts a failed command's stderr is one line matching `re`, and no stack. */
export function oneLine(r: { status: number | null; stderr: string }, re: RegExp): void {
  assert.notEqual(r.status, 0, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? "", re);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

/** What `up` prints when it upgrades a tc pipeline, by what the pipeline is attached through. */
const ATTACHED = {
  link: {
    upgraded: /^upgraded: .* replaced in one switch on the link/m,
    up: /^up: .*, hook tc-egress \(tcx link\); slots: stages\[0\]=stage_a, stages\[1\]=stage_b$/m,
  },
  filter: {
    upgraded: /^upgraded: .* replaced in one switch on the filter/m,
    up: /^up: .*, hook tc-egress \(cls_bpf filter pref 1 handle 0x1\); slots: stages\[0\]=stage_a, stages\[1\]=stage_b$/m,
  },
};

/**
 * The CLI half of the tc upgrade tests, once `file` holds version 2 of `obj`'s pipeline pinned at
 * `pin`: an upgrade says what it carried over and the old version's final counts; swap and the
 * restoring up work; a stage of the wrong type is refused; and the version detectors detect (a
 * version 1 stage in the version 2 chain, an emptied slot).
 */
export async function upgradeSwapAndDetect(
  net: VethNs,
  file: string,
  pin: string,
  obj: string,
  attachment: keyof typeof ATTACHED,
): Promise<void> {
  const send = (count: number) => sendUdp(net, count);
  const upgrade = runCli(["up", file]);
  assert.equal(upgrade.status, 0, upgrade.stderr);
  assert.match(upgrade.stdout, ATTACHED[attachment].upgraded);
  assert.match(upgrade.stdout, /^state: counters carried over from the previous version$/m);
  assert.match(upgrade.stdout, /^final counts of the previous version:\n {2}entry: \d+ runs/m);
  assert.match(upgrade.stdout, ATTACHED[attachment].up);
  const sw = runCli(["swap", "--pin", pin, "stages:0=stage_a2", "--netns", net.ns]);
  assert.equal(sw.status, 0, sw.stderr);
  assert.match(sw.stdout, /^swapped stages\[0\]: stage_a -> stage_a2 \(one atomic slot update\)/);
  const back = runCli(["up", file]);
  assert.equal(back.status, 0, back.stderr);
  assert.match(
    back.stdout,
    /put the file's programs back in 1 slot\(s\) a swap had changed: stages\[0\]: stage_a2 -> stage_a/,
  );
  // A program of the wrong type is refused before anything changes.
  const xdp = runCli(["swap", file, `stages:0=${resolve("test/bpf/upgrade/versioned.bpf.o")}:stage_a`]);
  assert.equal(xdp.status, 2, xdp.stderr);
  assert.match(
    xdp.stderr,
    /^tsbpf: stage_a is a xdp program; stages of pipeline \S+ holds tc \(sched_cls\) programs: nothing was changed\n$/,
  );

  // The detectors detect. A version 1 stage (another object's, sharing the pipeline's maps by
  // name) swapped into the version 2 chain: every packet runs a mixed chain. An emptied slot:
  // every packet misses a tail call.
  const m0 = versionCounters(pin)[2] as bigint;
  const s1 = runCli(["swap", file, `stages:0=${obj}:stage_a`]);
  assert.equal(s1.status, 0, s1.stderr);
  assert.match(s1.stdout, /it uses the pipeline's maps stages, counters/);
  assert.equal((await sentUdp(send(1000))).sent, 1000);
  assert.equal(
    (versionCounters(pin)[2] as bigint) - m0,
    1000n,
    "every packet of the burst ran a mixed chain",
  );
  execFileSync("bpftool", ["map", "delete", "pinned", `${pin}/main/maps/stages`, "key", "1", "0", "0", "0"]);
  const miss0 = versionCounters(pin)[3] as bigint;
  assert.equal((await sentUdp(send(1000))).sent, 1000);
  assert.equal(
    (versionCounters(pin)[3] as bigint) - miss0,
    1000n,
    "every packet of the burst missed a tail call",
  );
}

/**
 * A versioned tc pipeline of the upgrade tests, on the egress hook of the veth end in a quiet
 * namespace of its own (see {@link quietVeth}): its pipeline file, rewritten for each version.
 */
export interface VersionedTcPipeline {
  net: VethNs;
  name: string;
  /** The pin directory, /sys/fs/bpf/tsbpf/NAME. */
  pin: string;
  /** The pipeline file. */
  file: string;
  /** Writes the file for `version` (its `version` global). */
  write(version: number): void;
  /** Puts the file up through the library. */
  up(): Promise<UpResult>;
  /** The sender running in the namespace, killed by {@link remove}. */
  sender: CliProcess | undefined;
  /** Kills the sender, takes the pipeline down, removes the namespace and the file. */
  remove(): Promise<void>;
}

/**
 * Sets up {@link VersionedTcPipeline} `name` (suffixed with the pid, as the leftovers sweep knows
 * it) of object `obj` with `slots` of prog array `stages`, `state: [counters]`, at tc egress
 * (`attach` adds to the attach point, e.g. `tc-mode: filter`).
 */
export function versionedTcPipeline(o: {
  tag: string;
  name: string;
  obj: string;
  slots: string;
  globals?: string;
  attach?: string;
  stats?: boolean;
}): VersionedTcPipeline {
  const net = createVethNs(o.tag);
  const name = `${o.name}-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), `tsbpf-${o.name}-`));
  const file = join(dir, `${name}.yaml`);
  const p: VersionedTcPipeline = {
    net,
    name,
    pin: `/sys/fs/bpf/tsbpf/${name}`,
    file,
    write: (version) =>
      writeFileSync(
        file,
        `name: ${name}\nobject: ${o.obj}\nentry: entry\nslots:\n  stages: {${o.slots}}\nglobals: {version: ${version}${o.globals === undefined ? "" : `, ${o.globals}`}}\nattach: {iface: ${net.peerIf}, netns: ${net.ns}, hook: tc-egress${o.attach === undefined ? "" : `, ${o.attach}`}}\nstate: [counters]\n${o.stats === true ? "stats: true\n" : ""}`,
      ),
    up: async () => upPipeline(await loadPipeline(file)),
    sender: undefined,
    remove: async () => {
      p.sender?.child.kill("SIGKILL");
      await downPipeline(p.pin).catch(() => undefined);
      net.remove();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    quietVeth(net);
  } catch (e) {
    net.remove();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return p;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The proof of the tc upgrade-under-load tests, on `p` up at version 1 with stats: a sender in
 * the namespace sends as fast as it can while `upgrades` upgrades alternate versions 2 and 1
 * (`onUpgrade` checks each: what the attachment looks like) and `swaps` single-stage swaps run;
 * then every sent packet was counted by exactly one version, none ran a mixed chain or missed a
 * tail call, and the replaced versions' final counts plus the running one's add up.
 */
export async function upgradesUnderLoad(
  p: VersionedTcPipeline,
  n: { upgrades: number; swaps: number },
  onUpgrade: (r: UpResult, i: number) => void,
): Promise<void> {
  const c0 = versionCounters(p.pin);
  p.sender = sendUdp(p.net, 0);
  await sleep(500);
  const t0 = performance.now();
  let graceMs = 0;
  let finalRuns = 0n;
  for (let i = 1; i <= n.upgrades; i++) {
    p.write(i % 2 === 1 ? 2 : 1);
    const r = await p.up();
    assert.ok(r.upgraded, `upgrade ${i}`);
    assert.deepEqual(r.upgraded.state, [{ object: "main", map: "counters", carried: true }]);
    assert.ok(r.upgraded.finalStats, "the old version's final counts");
    finalRuns += BigInt(r.upgraded.finalStats.programs.entry?.runs ?? 0);
    graceMs += r.upgraded.graceMs;
    onUpgrade(r, i);
  }
  const upgradeS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  for (let i = 1; i <= n.swaps; i++) {
    await swapStage(p.pin, { map: "stages", key: 0, program: i % 2 === 1 ? "stage_a2" : "stage_a" });
  }
  const swapS = (performance.now() - t1) / 1000;
  await sleep(300);
  p.sender.child.kill("SIGTERM");
  const sent = await sentUdp(p.sender);
  p.sender = undefined;
  const c = versionCounters(p.pin);
  const counted = (c[0] as bigint) + (c[1] as bigint) - (c0[0] as bigint) - (c0[1] as bigint);
  const figures = `sent ${sent.sent} (${sent.failed} failed) at ${(sent.packetsPerSecond / 1e3).toFixed(0)} k packets/s; counted v1 ${c[0]} + v2 ${c[1]} = ${counted}; mixed ${c[2]}; missed ${c[3]}; ${n.upgrades} upgrades in ${upgradeS.toFixed(1)} s (grace ${(graceMs / n.upgrades).toFixed(2)} ms each); ${n.swaps} swaps in ${swapS.toFixed(2)} s`;
  console.log(`# ${figures}`);
  assert.equal(sent.failed, 0, figures);
  assert.ok(sent.sent >= 10_000, figures);
  assert.equal(c[2], 0n, figures);
  assert.equal(c[3], 0n, figures);
  assert.equal(counted, BigInt(sent.sent), figures);
  assert.ok((c[0] as bigint) > 0n && (c[1] as bigint) > 0n, figures);
  // Counts belong to one version: the replaced versions' final counts and the running one's add
  // up to every packet, none counted twice or lost between versions.
  const current = BigInt((await pipelineStats(p.pin)).programs.entry?.runs ?? 0);
  assert.equal(finalRuns + current, (c[0] as bigint) + (c[1] as bigint), figures);
}
