/**
 * objNameChars replaces the regular expressions the load path used for kernel object names
 * (each compiled on its first use in every process): it must give what they gave.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { objName, objNameChars } from "../../src/kernel/attr.js";
import { kernelProgramName } from "../../src/kernel/kernel-collection.js";

const cases = [
  "",
  "main_prog",
  "xdp/ingress",
  "tail_call.bpf.o",
  "a-b c\td\ne",
  "---",
  "é.ü",
  "😀x",
  "\u0000z",
  "AZaz09_.",
  "@[`{/:",
];

test("objNameChars agrees with the regular expression it replaces, replaced or dropped", () => {
  // Random strings over code units near the accepted ranges' edges, plus the fixed cases.
  let seed = 1;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed;
  };
  const edges = [
    0x2d, 0x2e, 0x2f, 0x30, 0x39, 0x3a, 0x40, 0x41, 0x5a, 0x5b, 0x5e, 0x5f, 0x60, 0x61, 0x7a, 0x7b, 0xe9,
    0xd83d,
  ];
  const all = [...cases];
  for (let n = 0; n < 500; n++) {
    let s = "";
    for (let k = rnd() % 12; k > 0; k--) s += String.fromCharCode(edges[rnd() % edges.length] as number);
    all.push(s);
  }
  for (const s of all) {
    assert.equal(objNameChars(s, "_"), s.replace(/[^A-Za-z0-9_.]/g, "_"), JSON.stringify(s));
    assert.equal(objNameChars(s, ""), s.replace(/[^A-Za-z0-9_.]/g, ""), JSON.stringify(s));
  }
});

test("program and attr names keep libbpf's rule: 15 accepted characters", () => {
  assert.equal(kernelProgramName("xdp/a-very-long-program-name"), "xdp_a_very_long");
  assert.deepEqual(
    objName("tc/in:gress.x"),
    new Uint8Array([..."tcingress.x"].map((c) => c.charCodeAt(0)).concat(Array(5).fill(0))),
  );
});
