/**
 * The VM engine needs no native code: importing the package root and running a collection on
 * the VM must not load koffi (or any other addon), so tsbpf works where koffi has no binary and
 * costs nothing native until the kernel is asked for. Each case runs in a child process under
 * native-watch.ts, which records native binaries and koffi modules however they are loaded; the
 * controls prove it sees them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const WATCH = pathToFileURL(resolve("dist/test/api/native-watch.js")).href;

/** Runs `code` as an ES module in the repository (so `tsbpf` is the package itself). */
function runWatched(code: string): {
  status: number | null;
  stdout: string;
  stderr: string;
  loaded: string[];
} {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-native-watch-"));
  const log = join(dir, "log");
  try {
    const r = spawnSync(process.execPath, ["--import", WATCH, "--input-type=module", "-e", code], {
      env: { ...process.env, TSBPF_NATIVE_WATCH: log },
      encoding: "utf8",
      timeout: 30_000,
    });
    let loaded: string[] = [];
    try {
      loaded = readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l !== "");
    } catch {
      // Nothing recorded: the file is created on the first record.
    }
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, loaded };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const LOAD_SPEC = `
import { readFileSync } from "node:fs";
import { Collection, loadCollectionSpec, net } from "tsbpf";
const spec = loadCollectionSpec(readFileSync("examples/tail-call/tail_call.bpf.o"), { file: "tail_call.bpf.o" });
`;

test("importing the package and running a VM collection loads no native code", () => {
  const r = runWatched(`${LOAD_SPEC}
const coll = await Collection.load(spec);
coll.maps.prog_array.set(0, coll.programs.port8080_prog);
coll.maps.prog_array.set(1, coll.programs.port22_prog);
const packet = net.buildPacket([net.eth({}), net.ipv4({ src: "10.0.0.1", dst: "10.0.0.2" }), net.tcp({ sport: 40000, dport: 22, flags: "S" })]);
const result = await coll.programs.main_prog.run(packet);
coll.close();
console.log(JSON.stringify({ backend: coll.backend, retval: result.retval, trace: result.trace }));
`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    backend: "vm",
    retval: 2,
    trace: ["Packet to port 22 processed"],
  });
  assert.deepEqual(r.loaded, [], "no native addon and no koffi module on the VM path");
});

test("control: the watch sees koffi when the kernel is asked for, and when koffi is imported", () => {
  // Without root the load fails (EPERM), but only after the syscall layer loaded koffi.
  const kernel = runWatched(`${LOAD_SPEC}
await Collection.load(spec, { backend: "kernel", onWarning: () => {} }).then((c) => c.close(), () => {});
`);
  assert.equal(kernel.status, 0, kernel.stderr);
  assert.ok(
    kernel.loaded.some((l) => l.startsWith("dlopen ") && l.includes("koffi")),
    `koffi's binary seen: ${kernel.loaded.join("; ")}`,
  );
  const imported = runWatched(`await import("koffi");`);
  assert.equal(imported.status, 0, imported.stderr);
  assert.ok(
    imported.loaded.some((l) => l.startsWith("import ") && l.includes("koffi")),
    `koffi's module seen: ${imported.loaded.join("; ")}`,
  );
});
