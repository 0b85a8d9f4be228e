#!/usr/bin/env node
// Runs the kernel's tc tail-call selftests (tools/testing/selftests/bpf/progs/tailcall1..6.c,
// tailcall_bpf2bpf1,2,3,4,6.c, tailcall_bpf2bpf_hierarchy1,2,3.c) on tsbpf's engines, driven
// the way prog_tests/tailcalls.c drives them: slots filled and deleted while loaded, .bss
// globals set and read, each result checked against the selftests' expected value.
//
//   node scripts/tailcall-selftests.mjs KERNEL_CHECKOUT [--engines kernel,vm,interpreter]
//
// The sources are compiled with clang into a directory under /tmp (nothing is written to the
// repository); bpf/bpf_helpers.h comes from the checkout's tools/lib when present, else from
// the system's libbpf headers. Needs `npm run build` first; the kernel engine needs root.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(new URL("..", import.meta.url).pathname);
const { Collection } = await import(join(root, "dist/src/collection.js"));
const { loadCollectionSpec } = await import(join(root, "dist/src/object/load-collection-spec.js"));
const { globals } = await import(join(root, "dist/src/backend/typed-map.js"));

const args = process.argv.slice(2);
const kernelDir = args.find((a) => !a.startsWith("--"));
if (kernelDir === undefined) {
  console.error(
    "usage: node scripts/tailcall-selftests.mjs KERNEL_CHECKOUT [--engines kernel,vm,interpreter]",
  );
  process.exit(2);
}
const engArg = args[args.indexOf("--engines") + 1];
const engines = (args.includes("--engines") ? engArg : "kernel,vm,interpreter").split(",");
const selftests = join(kernelDir, "tools/testing/selftests/bpf");
if (!existsSync(join(selftests, "progs/tailcall1.c"))) {
  console.error(`tailcall-selftests: ${selftests}/progs/tailcall1.c not found: give a Linux source tree`);
  process.exit(2);
}

const NAMES = [
  "tailcall1",
  "tailcall2",
  "tailcall3",
  "tailcall4",
  "tailcall5",
  "tailcall6",
  "tailcall_bpf2bpf1",
  "tailcall_bpf2bpf2",
  "tailcall_bpf2bpf3",
  "tailcall_bpf2bpf4",
  "tailcall_bpf2bpf6",
  "tailcall_bpf2bpf_hierarchy1",
  "tailcall_bpf2bpf_hierarchy2",
  "tailcall_bpf2bpf_hierarchy3",
];

const out = mkdtempSync(join(tmpdir(), "tsbpf-tailcall-selftests-"));
const arch = execFileSync("uname", ["-m"]).toString().trim();
const libbpf = existsSync(join(kernelDir, "tools/lib/bpf/bpf_helpers.h"))
  ? join(kernelDir, "tools/lib")
  : "/usr/include";
const objects = {};
for (const n of NAMES) {
  const o = join(out, `${n}.bpf.o`);
  execFileSync(
    "clang",
    [
      "-g",
      "-O2",
      "-target",
      "bpf",
      "-D__TARGET_ARCH_x86",
      `-I/usr/include/${arch}-linux-gnu`,
      `-I${libbpf}`,
      `-I${join(libbpf, "bpf")}`,
      `-I${selftests}`,
      `-I${join(selftests, "progs")}`,
      "-c",
      join(selftests, "progs", `${n}.c`),
      "-o",
      o,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  objects[n] = o;
}

/** pkt_v4 of the selftests (network_helpers.h): Ethernet, IPv4, TCP, 54 bytes. */
const PKT = new Uint8Array(54);
PKT[12] = 0x08;
PKT[14] = 0x45;
PKT[17] = 123; // tot_len = MAGIC_BYTES
PKT[23] = 6; // IPPROTO_TCP
PKT[47] = 0x02; // SYN
const LEN = PKT.length;

const key = (k) => new Uint8Array(new Uint32Array([k]).buffer);

/** The tests, as prog_tests/tailcalls.c drives them: each returns [what, got, want] checks. */
const TESTS = {
  async tailcall1(t) {
    for (let i = 0; i < 3; i++) t.fill(i, t.prog(i));
    for (let i = 0; i < 3; i++) {
      await t.expect(`slot ${i}`, "entry", i);
      t.del(i);
    }
    await t.expect("all deleted", "entry", 3);
    for (let i = 0; i < 3; i++) t.fill(i, t.prog(2 - i));
    for (let i = 0; i < 3; i++) {
      await t.expect(`slot ${i} = prog ${2 - i}`, "entry", 2 - i);
      t.del(i);
    }
    await t.expect("all deleted again", "entry", 3);
    for (let i = 0; i < 3; i++) {
      t.check(`delete of empty slot ${i} fails`, t.del(i), false);
      await t.expect(`still 3 after slot ${i}`, "entry", 3);
    }
  },
  async tailcall2(t) {
    for (let i = 0; i < 5; i++) t.fill(i, t.prog(i));
    await t.expect("chain 0 -> 1 -> 2", "entry", 2);
    t.del(2);
    await t.expect("slot 2 deleted", "entry", 1);
    t.del(0);
    await t.expect("loop 3 <-> 4 stops at the limit", "entry", 3);
  },
  async tailcall3(t) {
    t.fill(0, t.prog(0));
    await t.expect("self-loop", "entry", 1);
    t.check("count", t.global("count"), 33);
    t.del(0);
    await t.expect("slot deleted", "entry", 0);
  },
  async tailcall4(t) {
    for (let i = 0; i < 3; i++) t.fill(i, t.prog(i));
    for (let i = 0; i < 3; i++) {
      t.set("selector", i);
      await t.expect(`selector ${i}`, "entry", i);
    }
    for (let i = 0; i < 3; i++) {
      t.set("selector", i);
      t.del(i);
      await t.expect(`selector ${i}, slot deleted`, "entry", 3);
    }
  },
  async tailcall5(t) {
    const keys = [1111, 1234, 5678];
    for (let i = 0; i < 3; i++) t.fill(i, t.prog(i));
    for (let i = 0; i < 3; i++) {
      t.set("selector", keys[i]);
      await t.expect(`selector ${keys[i]}`, "entry", i);
    }
    for (let i = 0; i < 3; i++) {
      t.set("selector", keys[i]);
      t.del(i);
      await t.expect(`selector ${keys[i]}, slot deleted`, "entry", 3);
    }
  },
  async tailcall6(t) {
    t.fill(0, t.prog(0));
    t.set("which", 0);
    await t.expect("self-loop through a variable key", "entry", 1);
    t.check("count", t.global("count"), 33);
    t.set("count", 0);
    t.set("which", 1);
    await t.expect("key out of range", "entry", 0);
    t.check("count after a miss", t.global("count"), 0);
  },
  async tailcall_bpf2bpf1(t) {
    for (let i = 0; i < 2; i++) t.fill(i, t.prog(i));
    await t.expect("entry's own tail call", "entry", 1);
    t.del(1);
    await t.expect("the subprogram's tail call", "entry", 0);
    t.del(0);
    await t.expect("no tail call", "entry", LEN * 2);
  },
  async tailcall_bpf2bpf2(t) {
    t.fill(0, t.prog(0));
    await t.expect("self-loop through a subprogram", "entry", 1);
    t.check("count", t.global("count"), 33);
    t.del(0);
    await t.expect("slot deleted", "entry", 0);
  },
  async tailcall_bpf2bpf3(t) {
    for (let i = 0; i < 2; i++) t.fill(i, t.prog(i));
    await t.expect("two levels", "entry", LEN * 3);
    t.del(1);
    await t.expect("slot 1 deleted", "entry", LEN);
    t.del(0);
    await t.expect("slot 0 deleted", "entry", LEN * 2);
  },
  async tailcall_bpf2bpf4(t) {
    for (let i = 0; i < 3; i++) t.fill(i, t.prog(i));
    for (const noise of [0, 1]) {
      t.set("noise", noise);
      t.set("count", 0);
      await t.expect(`noise ${noise}`, "entry", LEN * 3);
      t.check(`count, noise ${noise}`, t.global("count"), 31);
    }
  },
  async tailcall_bpf2bpf6(t) {
    t.fill(0, t.prog(0));
    await t.expect("stack not a multiple of 8", "entry", 0);
    t.check("done", t.global("done"), 1);
  },
  async tailcall_bpf2bpf_hierarchy1(t) {
    t.fill(0, "entry");
    await t.expect("hierarchy", "entry", 1);
    t.check("count", t.global("count"), 34);
  },
  async tailcall_bpf2bpf_hierarchy2(t) {
    await t.expect("hierarchy (static slots)", "tailcall_bpf2bpf_hierarchy_2", 33);
  },
  async tailcall_bpf2bpf_hierarchy3(t) {
    await t.expect("hierarchy through two maps", "tailcall_bpf2bpf_hierarchy_3", 33);
    t.check("count", t.global("count"), 33);
  },
};

async function runTest(name, engine) {
  const file = objects[name];
  const spec = loadCollectionSpec(new Uint8Array(readFileSync(file)), { file });
  const backend = engine === "kernel" ? "kernel" : "vm";
  const checks = [];
  let c;
  try {
    c = await Collection.load(
      spec,
      backend === "vm"
        ? { backend, vm: { tier: engine === "interpreter" ? "interpreter" : "compiled" } }
        : { backend },
    );
  } catch (e) {
    return [["load", `error: ${e.message}`, "loaded"]];
  }
  const jmp = c.maps.jmp_table;
  const t = {
    prog: (i) => [`classifier_${i}`, `bpf_func_${i}`].find((n) => c.programs[n] !== undefined),
    fill: (i, p) => jmp.set(i, c.programs[p]),
    del: (i) => {
      try {
        jmp.delete(key(i));
        return true;
      } catch {
        return false;
      }
    },
    set: (v, x) => globals(c, ".bss").set(v, x),
    global: (v) => globals(c, ".bss").read()[v],
    check: (what, got, want) => checks.push([what, got, want]),
    async expect(what, prog, want) {
      const r = await c.programs[prog].run(PKT);
      checks.push([what, r.fault === undefined ? r.retval : `fault: ${r.fault.message}`, want]);
    },
  };
  try {
    await TESTS[name](t);
  } catch (e) {
    checks.push(["driver", `error: ${e.message}`, "no error"]);
  } finally {
    c.close();
  }
  return checks;
}

let failed = 0;
const totals = {};
for (const engine of engines) {
  let pass = 0;
  let all = 0;
  for (const n of NAMES) {
    const checks = await runTest(n, engine);
    const bad = checks.filter(([, got, want]) => got !== want);
    pass += checks.length - bad.length;
    all += checks.length;
    console.log(`${engine.padEnd(11)} ${n.padEnd(28)} ${checks.length - bad.length}/${checks.length}`);
    for (const [what, got, want] of bad) console.log(`    ${what}: got ${got}, want ${want}`);
  }
  totals[engine] = `${pass}/${all}`;
  if (pass !== all) failed++;
}
rmSync(out, { recursive: true, force: true });
console.log(
  `checks passed: ${Object.entries(totals)
    .map(([e, s]) => `${e} ${s}`)
    .join(", ")}`,
);
process.exit(failed === 0 ? 0 : 1);
