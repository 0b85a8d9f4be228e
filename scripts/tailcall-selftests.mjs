#!/usr/bin/env node
// Runs the kernel's tc tail-call selftests (tools/testing/selftests/bpf/progs/tailcall1..6.c,
// tailcall_bpf2bpf1,2,3,4,6.c, tailcall_bpf2bpf_hierarchy1,2,3.c) on tsbpf's engines, driven
// the way prog_tests/tailcalls.c drives them: slots filled and deleted while loaded, .bss
// globals set and read, each result checked against the selftests' expected value.
//
//   node scripts/tailcall-selftests.mjs KERNEL_CHECKOUT [--engines kernel,vm,interpreter]
//
// The sources are compiled with clang into a directory under /tmp (nothing is written to the
// repository) as the selftests' Makefile compiles them: bpf/bpf_helpers.h from the checkout's
// tools/lib, bpf_helper_defs.h generated from its include/uapi/linux/bpf.h by its
// scripts/bpf_doc.py, linux/bpf.h from its tools/include/uapi, and vmlinux.h dumped from
// /sys/kernel/btf/vmlinux by bpftool; the system's headers stand in for any of these the
// checkout lacks. Needs `npm run build` first; the kernel engine needs root.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

const SOURCES = [
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
// Generated headers, as the selftests' Makefile makes them.
const gen = join(out, "include");
mkdirSync(join(gen, "bpf"), { recursive: true });
const includes = [];
const bpfDoc = join(kernelDir, "scripts/bpf_doc.py");
const uapiBpf = join(kernelDir, "include/uapi/linux/bpf.h");
if (libbpf !== "/usr/include" && existsSync(bpfDoc) && existsSync(uapiBpf)) {
  const defs = execFileSync("python3", [bpfDoc, "--header", "--file", uapiBpf], { maxBuffer: 1 << 26 });
  writeFileSync(join(gen, "bpf", "bpf_helper_defs.h"), defs);
  includes.push(`-I${join(gen, "bpf")}`);
}
try {
  const vmlinux = execFileSync("bpftool", ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"], {
    maxBuffer: 1 << 28,
    stdio: ["ignore", "pipe", "ignore"],
  });
  writeFileSync(join(gen, "vmlinux.h"), vmlinux);
  includes.push(`-I${gen}`);
} catch {
  // No bpftool or no kernel BTF: none of the tc tail-call sources needs vmlinux.h.
}
const toolsUapi = join(kernelDir, "tools/include/uapi");
if (existsSync(join(toolsUapi, "linux/bpf.h"))) includes.push(`-I${toolsUapi}`);
console.log(
  `headers: ${libbpf === "/usr/include" ? "system libbpf" : "checkout's tools/lib"}, bpf_helper_defs.h ${
    includes.some((i) => i.endsWith("/bpf")) ? "generated from the checkout" : "from the system"
  }, linux/bpf.h from ${existsSync(join(toolsUapi, "linux/bpf.h")) ? "the checkout's tools/include/uapi" : "the system"}, vmlinux.h ${
    includes.includes(`-I${gen}`) ? "dumped from this kernel" : "absent"
  }`,
);
const objects = {};
for (const n of SOURCES) {
  const o = join(out, `${n}.bpf.o`);
  execFileSync(
    "clang",
    [
      "-g",
      "-O2",
      "-target",
      "bpf",
      "-D__TARGET_ARCH_x86",
      ...includes,
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

/** pkt_v4 of the selftests (network_helpers.c): Ethernet, IPv4 (ihl 5), TCP, 54 bytes. */
const PKT_V4 = new Uint8Array(54);
PKT_V4[12] = 0x08; // h_proto = htons(ETH_P_IP)
PKT_V4[14] = 0x05; // ihl = 5 (version left 0)
PKT_V4[17] = 123; // tot_len = htons(MAGIC_BYTES)
PKT_V4[23] = 6; // IPPROTO_TCP
PKT_V4[46] = 0x50; // doff = 5
PKT_V4[52] = 123; // urg_ptr = 123 (host order)
const LEN = PKT_V4.length;
/** `char buff[128] = {}`, the packet of the tests that do not look at it. */
const BUFF = new Uint8Array(128);
/** test_loader.c's `tmp_in[TEST_DATA_LEN]`, for the RUN_TESTS ones. */
const TMP_IN = new Uint8Array(64);

const key = (k) => new Uint8Array(new Uint32Array([k]).buffer);

/** test_tailcall_count: tailcall3, tailcall6 and tailcall_bpf2bpf2. */
async function tailcallCount(t) {
  t.fill(0, "classifier_0");
  await t.expect("tailcall retval", "entry", 1);
  t.check("tailcall count", t.global("count"), 33);
  t.check("delete slot 0", t.del(0), true);
  await t.expect("tailcall retval after delete", "entry", 0);
}

/**
 * The tests, as prog_tests/tailcalls.c (6.18) drives them, step for step and with the same
 * packets; each adds [what, got, want] checks. A failed map update or delete there is a
 * CHECK_FAIL, here a check.
 */
const TESTS = {
  async tailcall1(t) {
    t.packet(BUFF);
    for (let i = 0; i < 3; i++) t.fill(i, `classifier_${i}`);
    for (let i = 0; i < 3; i++) {
      await t.expect(`slot ${i}`, "entry", i);
      t.check(`delete slot ${i}`, t.del(i), true);
    }
    await t.expect("all deleted", "entry", 3);
    for (let i = 0; i < 3; i++) t.fill(i, `classifier_${i}`);
    await t.expect("all filled again", "entry", 0);
    for (let i = 0; i < 3; i++) t.fill(i, `classifier_${2 - i}`);
    for (let i = 0; i < 3; i++) {
      await t.expect(`slot ${i} = classifier_${2 - i}`, "entry", 2 - i);
      t.check(`delete slot ${i} again`, t.del(i), true);
    }
    await t.expect("all deleted again", "entry", 3);
    for (let i = 0; i < 3; i++) {
      t.check(`delete of empty slot ${i} is ENOENT`, t.del(i), "ENOENT");
      await t.expect(`still 3 after slot ${i}`, "entry", 3);
    }
  },
  async tailcall2(t) {
    t.packet(BUFF);
    for (let i = 0; i < 5; i++) t.fill(i, `classifier_${i}`);
    await t.expect("chain 0 -> 1 -> 2", "entry", 2);
    t.check("delete slot 2", t.del(2), true);
    await t.expect("slot 2 deleted", "entry", 1);
    t.check("delete slot 0", t.del(0), true);
    await t.expect("slot 0 deleted", "entry", 3);
  },
  async tailcall3(t) {
    t.packet(BUFF);
    await tailcallCount(t);
  },
  async tailcall4(t) {
    t.packet(BUFF);
    for (let i = 0; i < 3; i++) t.fill(i, `classifier_${i}`);
    for (let i = 0; i < 3; i++) {
      t.set("selector", i);
      await t.expect(`selector ${i}`, "entry", i);
    }
    for (let i = 0; i < 3; i++) {
      t.set("selector", i);
      t.check(`delete slot ${i}`, t.del(i), true);
      await t.expect(`selector ${i}, slot deleted`, "entry", 3);
    }
  },
  async tailcall5(t) {
    t.packet(BUFF);
    const keys = [1111, 1234, 5678];
    for (let i = 0; i < 3; i++) t.fill(i, `classifier_${i}`);
    for (let i = 0; i < 3; i++) {
      t.set("selector", keys[i]);
      await t.expect(`selector ${keys[i]}`, "entry", i);
    }
    for (let i = 0; i < 3; i++) {
      t.set("selector", keys[i]);
      t.check(`delete slot ${i}`, t.del(i), true);
      await t.expect(`selector ${keys[i]}, slot deleted`, "entry", 3);
    }
  },
  async tailcall6(t) {
    t.packet(BUFF);
    await tailcallCount(t);
  },
  async tailcall_bpf2bpf1(t) {
    t.packet(PKT_V4);
    for (let i = 0; i < 2; i++) t.fill(i, `classifier_${i}`);
    await t.expect("entry's own tail call", "entry", 1);
    t.check("delete slot 1", t.del(1), true);
    await t.expect("the subprogram's tail call", "entry", 0);
    t.check("delete slot 0", t.del(0), true);
    await t.expect("no tail call", "entry", LEN * 2);
  },
  async tailcall_bpf2bpf2(t) {
    t.packet(BUFF);
    await tailcallCount(t);
  },
  async tailcall_bpf2bpf3(t) {
    t.packet(PKT_V4);
    for (let i = 0; i < 2; i++) t.fill(i, `classifier_${i}`);
    await t.expect("two levels", "entry", LEN * 3);
    t.check("delete slot 1", t.del(1), true);
    await t.expect("slot 1 deleted", "entry", LEN);
    t.check("delete slot 0", t.del(0), true);
    await t.expect("slot 0 deleted", "entry", LEN * 2);
  },
  // tailcall_bpf2bpf_4 and _5 are test_tailcall_bpf2bpf_4(false) and (true), each on a fresh load.
  async tailcall_bpf2bpf4(t) {
    await bpf2bpf4(t, 0);
  },
  async "tailcall_bpf2bpf4 (noise)"(t) {
    await bpf2bpf4(t, 1);
  },
  async tailcall_bpf2bpf6(t) {
    t.packet(PKT_V4);
    t.fill(0, "classifier_0");
    await t.expect("stack not a multiple of 8", "entry", 0);
    t.check("done", t.global("done"), 1);
  },
  async tailcall_bpf2bpf_hierarchy1(t) {
    t.packet(BUFF);
    t.fill(0, "entry");
    await t.expect("hierarchy", "entry", 1);
    t.check("count", t.global("count"), 34);
    t.check("delete slot 0", t.del(0), true);
    await t.expect("hierarchy, slot deleted", "entry", 1);
    t.check("count after the second run", t.global("count"), 35);
  },
  async tailcall_bpf2bpf_hierarchy2(t) {
    t.packet(TMP_IN);
    await t.expect("__retval(33)", "tailcall_bpf2bpf_hierarchy_2", 33);
  },
  async tailcall_bpf2bpf_hierarchy3(t) {
    t.packet(TMP_IN);
    await t.expect("__retval(33)", "tailcall_bpf2bpf_hierarchy_3", 33);
  },
};

async function bpf2bpf4(t, noise) {
  t.packet(PKT_V4);
  for (let i = 0; i < 3; i++) t.fill(i, `classifier_${i}`);
  t.set("noise", noise);
  t.set("count", 0);
  await t.expect(`retval, noise ${noise}`, "entry", LEN * 3);
  t.check(`count, noise ${noise}`, t.global("count"), 31);
}

async function runTest(name, engine) {
  const file = objects[name.split(" ")[0]];
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
  let pkt;
  const t = {
    packet: (p) => {
      pkt = p;
    },
    fill: (i, p) => jmp.set(i, c.programs[p]),
    // true, or the errno name of the refusal (bpf_map_delete_elem's -1 with errno).
    del: (i) => {
      try {
        jmp.delete(key(i));
        return true;
      } catch (e) {
        return e.code ?? e.message;
      }
    },
    set: (v, x) => globals(c, ".bss").set(v, x),
    global: (v) => globals(c, ".bss").read()[v],
    check: (what, got, want) => checks.push([what, got, want]),
    async expect(what, prog, want) {
      const r = await c.programs[prog].run(pkt);
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
  for (const n of Object.keys(TESTS)) {
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
