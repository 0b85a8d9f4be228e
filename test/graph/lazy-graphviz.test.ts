/**
 * The Graphviz WebAssembly module (about 2 MB of JavaScript) is imported only when an SVG is
 * asked for: the other commands and formats never load it. Each case runs the real CLI in a child
 * process under test/api/native-watch.ts, told to record the module; the SVG case proves the
 * watch sees it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const WATCH = pathToFileURL(resolve("dist/test/api/native-watch.js")).href;
const OBJ = "examples/tail-call/tail_call.bpf.o";

/** Runs `tsbpf ARGS` and returns its exit status and the Graphviz modules it loaded. */
function cliLoads(args: string[]): { status: number | null; stderr: string; graphviz: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-graphviz-watch-"));
  const log = join(dir, "log");
  try {
    const r = spawnSync(process.execPath, ["--import", WATCH, "bin/tsbpf.js", ...args], {
      env: { ...process.env, TSBPF_NATIVE_WATCH: log, TSBPF_NATIVE_WATCH_MODULES: "wasm-graphviz" },
      encoding: "utf8",
      timeout: 30_000,
    });
    let lines: string[] = [];
    try {
      lines = readFileSync(log, "utf8").split("\n");
    } catch {
      // Nothing recorded: the file is created on the first record.
    }
    return { status: r.status, stderr: r.stderr, graphviz: lines.filter((l) => l.includes("wasm-graphviz")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("inspect, demo and graph's text formats never load Graphviz; --format svg does", () => {
  for (const args of [["inspect", OBJ], ["demo"], ["graph", OBJ], ["graph", OBJ, "--format", "dot"]]) {
    const r = cliLoads(args);
    assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.deepEqual(r.graphviz, [], `${args.join(" ")} loads no Graphviz`);
  }
  const svg = cliLoads(["graph", OBJ, "--format", "svg"]);
  assert.equal(svg.status, 0, svg.stderr);
  assert.ok(
    svg.graphviz.some((l) => l.startsWith("import ")),
    `the watch sees Graphviz: ${svg.graphviz.join("; ")}`,
  );
});
