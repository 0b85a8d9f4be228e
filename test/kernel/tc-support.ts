/**
 * Pieces of the tc pipeline tests: what runs on a tcx hook (BPF_PROG_QUERY; this machine's
 * bpftool predates tcx), and a program of "another tool" attached to a hook by other means than
 * tsbpf's pipeline code (a two-instruction sched_cls program on a tcx link of its own).
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
import { execFileSync } from "node:child_process";
import { loadedProgramIds } from "./attach-support.js";

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
