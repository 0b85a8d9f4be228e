/**
 * The pin layout of a pipeline, with a fake kernel whose OBJ_PIN makes a real file: each object's
 * maps and programs under a directory of its own (two objects' `.rodata` and same-named programs
 * do not collide), the description and the link at the top, and all or nothing: a pin that fails
 * takes every pin made so far with it, and the directories pinning made above.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BpfCmd } from "../../src/abi/index.js";
import type { PipelineDescription } from "../../src/kernel/pipeline-meta.js";
import { type PinnableMap, pinPipeline } from "../../src/kernel/pipeline-pins.js";
import type { PtrArg } from "../../src/kernel/sys.js";
import { fakeSys } from "./support.js";

const root = mkdtempSync(join(tmpdir(), "tsbpf-pins-"));
after(() => rmSync(root, { recursive: true, force: true }));

const cString = (ptrs: readonly PtrArg[]): string => {
  const b = ptrs[0]?.buf ?? new Uint8Array();
  const end = b.indexOf(0);
  return new TextDecoder().decode(b.subarray(0, end < 0 ? b.length : end));
};

/** A fake kernel: maps get fds from 100, OBJ_PIN writes a file where bpffs would make a pin. */
function kernel() {
  let next = 100;
  return fakeSys((cmd, _attr, ptrs) => {
    if (cmd === BpfCmd.OBJ_PIN) {
      writeFileSync(cString(ptrs), "");
      return 0;
    }
    if (cmd === BpfCmd.MAP_CREATE) return next++;
    return 0;
  });
}

/** A map or program whose pin writes a file (or fails, to test the way back). */
const pinnable = (name: string, fail = false): PinnableMap => ({
  name,
  fd: 3,
  pinnedAt: undefined,
  reused: false,
  pin(path: string) {
    if (fail) throw new Error(`pin ${name} failed`);
    writeFileSync(path, "");
  },
});

const description: PipelineDescription = {
  name: "two",
  file: "/x/two.yaml",
  by: "test",
  objects: { dispatch: { file: "/x/a.o", sha256: "00" }, stages: { file: "/x/a.o", sha256: "00" } },
  entry: { object: "dispatch", program: "main_prog" },
  slots: [],
  attach: { iface: "veth0", ifindex: 7, netns: null, mode: "auto", attachedMode: "native" },
  hash: "ab",
};

/** Two objects that both have a `.rodata`, a prog array and a `main_prog`. */
const objects = (failing?: string) =>
  Object.fromEntries(
    ["dispatch", "stages"].map((o) => [
      o,
      {
        maps: [pinnable("prog_array"), pinnable(".rodata", failing === `${o}:.rodata`)],
        programs: [pinnable("main_prog"), pinnable("port22_prog", failing === `${o}:port22_prog`)],
      },
    ]),
  );

/** Every file under `dir`, relative to it. */
function files(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}

test("each object's maps and programs have a directory of their own; meta and link at the top", () => {
  const { sys, calls, closed } = kernel();
  const dir = join(root, "made", "two");
  const linkPins: string[] = [];
  const r = pinPipeline(
    dir,
    { link: { pin: (p) => linkPins.push(p) }, objects: objects(), description },
    sys,
  );
  assert.deepEqual(files(dir), [
    "dispatch/maps/prog_array",
    "dispatch/maps/rodata",
    "dispatch/progs/main_prog",
    "dispatch/progs/port22_prog",
    "meta",
    "stages/maps/prog_array",
    "stages/maps/rodata",
    "stages/progs/main_prog",
    "stages/progs/port22_prog",
  ]);
  assert.deepEqual(linkPins, [join(dir, "link")], "the link is pinned, last");
  assert.deepEqual(
    r.meta.pins.filter((p) => p.name === ".rodata").map((p) => p.path),
    ["dispatch/maps/rodata", "stages/maps/rodata"],
  );
  assert.deepEqual(r.meta.madeDirs, [join(root, "made")]);
  assert.equal(r.meta.name, "two");
  assert.equal(r.meta.pinDir, dir);
  // The description map: created, filled, frozen, pinned, and this process's fd closed.
  const order = calls.map((c) => c.cmd);
  assert.deepEqual(order, [BpfCmd.MAP_CREATE, BpfCmd.MAP_UPDATE_ELEM, BpfCmd.MAP_FREEZE, BpfCmd.OBJ_PIN]);
  assert.deepEqual(closed, [100]);
});

for (const failing of ["stages:port22_prog", "dispatch:.rodata", "link"]) {
  test(`a pin that fails (${failing}) removes every pin made and the directories made for them`, () => {
    const { sys, closed } = kernel();
    const dir = join(root, `fail-${failing.replace(/[:.]/g, "_")}`, "deeper", "two");
    const link = {
      pin: () => {
        if (failing === "link") throw new Error("pin link failed");
      },
    };
    assert.throws(() => pinPipeline(dir, { link, objects: objects(failing), description }, sys), /failed/);
    assert.equal(existsSync(join(root, `fail-${failing.replace(/[:.]/g, "_")}`)), false, "nothing is left");
    if (failing === "link") assert.deepEqual(closed, [100], "the description map's fd is closed");
  });
}

test("a directory that holds anything is refused before anything is pinned", () => {
  const { sys, calls } = kernel();
  const busy = join(root, "busy");
  mkdirSync(busy);
  writeFileSync(join(busy, "link"), "");
  const nothing = { link: { pin: () => assert.fail("pinned") }, objects: objects(), description };
  assert.throws(() => pinPipeline(busy, nothing, sys), {
    name: "UsageError",
    message: `${busy} already holds a pinned pipeline`,
  });
  const other = join(root, "other");
  mkdirSync(other);
  writeFileSync(join(other, "notes"), "");
  assert.throws(() => pinPipeline(other, nothing, sys), {
    message: `${other} is not empty (it holds notes)`,
  });
  assert.deepEqual(files(other), ["notes"]);
  // An empty directory is fine, and stays (it was there before) when a pin fails.
  const empty = join(root, "empty");
  mkdirSync(empty);
  assert.throws(() => pinPipeline(empty, { ...nothing, objects: objects("stages:.rodata") }, sys), /failed/);
  assert.deepEqual(readdirSync(empty), []);
  assert.deepEqual(calls, [], "nothing reached the kernel");
});

test("an object alias that would take the place of the link or the description is refused", () => {
  const { sys } = kernel();
  const dir = join(root, "alias");
  assert.throws(
    () =>
      pinPipeline(
        dir,
        { link: { pin: () => undefined }, objects: { meta: objects().dispatch as never }, description },
        sys,
      ),
    /an object alias cannot be 'meta'/,
  );
  assert.equal(existsSync(dir), false);
});
