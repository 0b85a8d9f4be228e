/**
 * Generated skeletons as users compile them: the skeleton of every object in the repository,
 * and code using them, type-check in a strict project (strict, exactOptionalPropertyTypes,
 * noUncheckedIndexedAccess, module nodenext) that installs the packed package; and code that
 * names a program or map the object lacks, passes a wrong key or value, writes `.rodata` after
 * load, puts a program of another type (or engine, or no skeleton) into a prog array or attaches
 * what cannot be attached fails to compile, each with the error expected, on its line.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { test } from "node:test";
import { packedProject } from "../support/packed-project.js";
import { generate, repositoryObjects } from "../support/skeletons.js";

/** Code that must compile: the skeleton API as the README shows it, on both engines. */
const USAGE = `import { type BackendName, type kernel, net, type VmProgram } from "tsbpf";
import { SkelShapes, type event, event_kind } from "./skel_shapes.skel.js";
import { TailCall } from "./tail_call.skel.js";
import { type counter, type flow_key, type flow_stats, Typed, verdict } from "./typed.skel.js";

declare const backend: BackendName;
const packet = net.buildPacket([net.eth({}), net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }), net.tcp({ dport: 53 })]);

export async function seed(iface: string): Promise<void> {
  const open = TailCall.open();
  await using skel = await open.load({ backend: "kernel" });
  skel.maps.prog_array.set(0, skel.progs.port8080_prog).set(1, skel.progs.port22_prog);
  const { main_prog: link } = await skel.attach({ main_prog: { iface, mode: "generic" } });
  const ifindex: number = link.ifindex;
  const same: kernel.KernelXdpLink | undefined = skel.links.main_prog;
  skel.maps.prog_array.map.pin("/sys/fs/bpf/x");
  for await (const line of skel.collection.trace()) console.log(line.message, ifindex, same);
}

export async function typedViews(): Promise<void> {
  const open = Typed.open();
  open.rodata.drop_port = 53;
  open.bss.last_verdict = "VERDICT_DROP";
  using skel = await open.load();
  const r = await skel.progs.typed_prog.run(packet);
  const stats: flow_stats | undefined = skel.maps.flows.get({ saddr: 1, dport: 53 });
  const v: verdict = stats?.last ?? verdict.VERDICT_NONE;
  skel.maps.flows.set({ saddr: 1 }, { last: "VERDICT_ODD", name: "x", first_bytes: { octets: [1] } });
  for (const [key, value] of skel.maps.flows) console.log(key.sport.toFixed(), value.packets + 1n);
  const perCpu: counter[] | undefined = skel.maps.per_proto.get(6);
  skel.maps.per_proto.set(6, { packets: 1n }).set(17, [{ bytes: 2n }]);
  const raw: Uint8Array | undefined = skel.maps.untyped.get(1);
  skel.maps.untyped.set(new Uint8Array(4), 5n);
  const runs: number = skel.bss.runs;
  skel.bss.last_verdict = verdict.VERDICT_PASS;
  skel.data.last_key = { sport: 1 };
  const k: flow_key = skel.data.last_key;
  const port: number = skel.rodata.drop_port;
  console.log(r.retval, v, perCpu, raw, runs, k, port, { ...skel.bss });
}

export async function anyEngine(): Promise<void> {
  const skel = await SkelShapes.openAndLoad({ backend });
  // What both engines have works on either; what takes the engine's own objects, once narrowed.
  const e: event = skel.maps.events.decode(new Uint8Array(24));
  const kind: event_kind = e.kind;
  if (skel.backend === "kernel") {
    await skel.attach({ emit: { iface: "lo" } });
    skel.maps.tc_jumps.set(0, skel.progs.tc_stage);
  } else {
    skel.progs.emit satisfies VmProgram;
    skel.maps.outer.set(0, skel.maps.inner_template.map);
  }
  const seed = await TailCall.openAndLoad({ vm: { possibleCpus: 2 } });
  const shapes = await SkelShapes.openAndLoad();
  seed.maps.prog_array.set(0, shapes.progs.emit);
  console.log(kind, event_kind.EVENT_LARGE);
  skel.close();
}
`;

/** What every snippet starts from: one loaded skeleton of each kind, declared. */
const PRELUDE = `import type { VmProgram } from "tsbpf";
import type { SkelShapes } from "./skel_shapes.skel.js";
import { TailCall } from "./tail_call.skel.js";
import type { counter, Typed } from "./typed.skel.js";

declare const vm: Typed<"vm">;
declare const tc: TailCall<"vm">;
declare const tk: TailCall<"kernel">;
declare const shapes: SkelShapes<"vm">;
declare const shapesK: SkelShapes<"kernel">;
declare const plain: VmProgram;
export const used: unknown[] = [vm, tc, tk, shapes, shapesK, plain, TailCall];
export let c: counter | undefined;
`;

/** Each line fails to compile with an error matching its pattern. */
const MUST_FAIL: [string, RegExp][] = [
  ["vm.progs.no_such_prog;", /Property 'no_such_prog' does not exist/],
  ["vm.maps.no_such_map;", /Property 'no_such_map' does not exist/],
  ["vm.maps.flows.get(5);", /'5' has no properties in common with type 'flow_key_input'/],
  ['vm.maps.counters.set("0", {});', /'string' is not assignable to parameter of type 'number'/],
  ["vm.maps.counters.set(0, { packets: 1 });", /'number' is not assignable to type 'bigint'/],
  ["vm.maps.counters.set(0, { packetz: 1n });", /'packetz' does not exist in type 'counter_input'/],
  ["vm.maps.flows.set({ saddr: 1 }, { last: 7 });", /'7' is not assignable to type 'verdict_input'/],
  ['vm.bss.last_verdict = "VERDICT_MAYBE";', /'"VERDICT_MAYBE"' is not assignable to type 'verdict_input'/],
  [
    "c = vm.maps.per_proto.get(6);",
    /'counter\[\] \| undefined' is not assignable to type 'counter \| undefined'/,
  ],
  ["vm.rodata.drop_port = 1;", /Cannot assign to 'drop_port' because it is a read-only property/],
  ["TailCall.open().rodata;", /Property 'rodata' does not exist/],
  ["shapes.maps.events.decode(new Uint8Array(24)).nope;", /Property 'nope' does not exist on type 'event'/],
  ["tc.maps.prog_array.set(0, shapes.progs.tc_stage);", /'"sched_cls"' is not assignable to type '"xdp"'/],
  ["tc.maps.prog_array.set(0, plain);", /'string' is not assignable to type '"xdp"'/],
  ["tc.maps.prog_array.set(0, tk.progs.port22_prog);", /KernelProgram/],
  ['tc.attach({ main_prog: { iface: "lo" } });', /Property 'attach' does not exist/],
  ['tk.attach({ main_prg: { iface: "lo" } });', /main_prg/],
  ['shapesK.attach({ tc_entry: { iface: "lo" } });', /tc_entry/],
  ["tc.progs.port22_prog.attachXdp;", /Property 'attachXdp' does not exist/],
];

test("every object's skeleton compiles strictly against the packed package; misuse does not", () => {
  const project = packedProject();
  try {
    const files: Record<string, string> = { "usage.ts": USAGE };
    for (const object of repositoryObjects()) {
      files[basename(object).replace(/\.bpf\.o$/, ".skel.ts")] = generate(object);
    }
    const preludeLines = PRELUDE.split("\n").length;
    MUST_FAIL.forEach(([line], i) => {
      files[`fail-${i + 1}.ts`] = `${PRELUDE}${line}\n`;
    });
    project.write(files);
    const { output } = project.tsc();
    const errors = [...output.matchAll(/^([\w.-]+)\((\d+),\d+\): error (TS\d+: .*(?:\n {2}.*)*)/gm)].map(
      (m) => ({
        file: m[1] as string,
        line: Number(m[2]),
        text: m[3] as string,
      }),
    );
    assert.ok(output.includes("error TS") || errors.length === 0, output);
    const unexpected = errors.filter((e) => !e.file.startsWith("fail-"));
    assert.deepEqual(unexpected, [], "the skeletons and the code using them compile");
    MUST_FAIL.forEach(([line, pattern], i) => {
      const mine = errors.filter((e) => e.file === `fail-${i + 1}.ts`);
      assert.equal(mine.length, 1, `${line}: one error, got ${JSON.stringify(mine)}`);
      assert.equal(mine[0]?.line, preludeLines, `${line}: the error is on its line`);
      assert.match(mine[0]?.text ?? "", pattern, line);
    });
  } finally {
    project.remove();
  }
});
