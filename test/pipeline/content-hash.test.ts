/**
 * What `up` compares to tell "already up" from "an upgrade": the content hash changes with the
 * objects' bytes, a slot, a global, the entry and the attach point (the tc hook included), and with nothing else (the
 * order the file lists things in, comments, where the file is). Also: `pin:` must be absolute,
 * and a pipeline without `attach:` cannot go up.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { isPipelineError } from "../../src/errors.js";
import { attachPointOf, pipelineContentHash, upPipeline } from "../../src/pipeline/deploy.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const TYPED = resolve("test/bpf/typed/typed.bpf.o");
const dir = mkdtempSync(join(tmpdir(), "tsbpf-hash-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** The content hash of a pipeline file with this text (written to a file of its own). */
async function hashOf(text: string, netns?: string): Promise<string> {
  const file = join(dir, `p${n++}.yaml`);
  writeFileSync(file, text);
  const p = await loadPipeline(file);
  return pipelineContentHash(p, attachPointOf(p, netns));
}

const seed = (
  o: { object?: string; s0?: string; s1?: string; iface?: string; mode?: string; extra?: string } = {},
) =>
  `name: seed
object: ${o.object ?? SEED}
entry: main_prog
slots:
  prog_array:
    0: ${o.s0 ?? "port8080_prog"}
    1: ${o.s1 ?? "port22_prog"}
attach:
  iface: ${o.iface ?? "veth0"}
  mode: ${o.mode ?? "auto"}
${o.extra ?? ""}`;

test("the same pipeline hashes the same however it is written; any change to what runs changes it", async () => {
  const base = await hashOf(seed());
  assert.match(base, /^[0-9a-f]{64}$/);
  // Same content: slots in another order, a comment, a pin directory, the object copied elsewhere.
  const reordered = `name: seed
# the seed
object: ${SEED}
entry: main_prog
slots:
  prog_array:
    1: port22_prog
    0: port8080_prog
attach: { mode: auto, iface: veth0 }
pin: /sys/fs/bpf/elsewhere
`;
  assert.equal(await hashOf(reordered), base);
  mkdirSync(join(dir, "copy"));
  copyFileSync(SEED, join(dir, "copy", "tail_call.bpf.o"));
  assert.equal(await hashOf(seed({ object: join(dir, "copy", "tail_call.bpf.o") })), base);
  // `hook: xdp` is the default: pipelines pinned before tc hooks existed keep their hash.
  assert.equal(await hashOf(seed({ extra: "  hook: xdp\n" })), base);
  // Different content.
  const different = [
    await hashOf(seed({ s1: "port8080_prog" })),
    await hashOf(seed({ s0: "port22_prog", s1: "port8080_prog" })),
    await hashOf(seed({ iface: "veth1" })),
    await hashOf(seed({ mode: "generic" })),
    await hashOf(seed(), "blue"),
    await hashOf(seed().replace("    1: port22_prog\n", "")),
    await hashOf(seed({ extra: "  hook: tc-ingress\n" })),
    await hashOf(seed({ extra: "  hook: tc-egress\n" })),
  ];
  for (const h of different) assert.notEqual(h, base);
  assert.equal(new Set(different).size, different.length);
});

test("the objects' bytes and the globals are part of the content", async () => {
  // The object with one byte more at its end (past every section): it loads the same, but it
  // is not the same file, so it is not the same pipeline.
  const changed = join(dir, "changed.bpf.o");
  writeFileSync(changed, Buffer.concat([readFileSync(SEED), Buffer.from([0])]));
  assert.notEqual(await hashOf(seed({ object: changed })), await hashOf(seed()));
  const typed = (port: number) => `name: typed
object: ${TYPED}
entry: typed_prog
globals:
  drop_port: ${port}
attach: { iface: veth0 }
`;
  assert.equal(await hashOf(typed(53)), await hashOf(typed(53)));
  assert.notEqual(await hashOf(typed(53)), await hashOf(typed(54)));
});

test("pin: must be an absolute path, and up needs attach:", async () => {
  const rel = join(dir, "rel.yaml");
  writeFileSync(rel, seed({ extra: "pin: tsbpf/seed\n" }));
  await assert.rejects(loadPipeline(rel), (e: unknown) => {
    assert.ok(isPipelineError(e));
    assert.equal(e.field, "pin");
    assert.match(e.message, /^rel\.yaml: pin: 'tsbpf\/seed' is not an absolute path$/);
    return true;
  });
  const noAttach = join(dir, "noattach.yaml");
  writeFileSync(noAttach, `name: x\nobject: ${SEED}\nentry: main_prog\n`);
  await assert.rejects(upPipeline(await loadPipeline(noAttach)), (e: unknown) => {
    assert.ok(isPipelineError(e));
    assert.match(
      e.message,
      /^noattach\.yaml: attach: missing: up attaches the entry program to attach\.iface$/,
    );
    return true;
  });
});
