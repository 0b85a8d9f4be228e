import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";

// The CLI bundle (scripts/bundle.mjs, issue 14's cold start): built with the project, loaded by
// bin/tsbpf.js, and it behaves as the module graph it is made from.

const BUNDLE = "dist/src/cli/tsbpf.bundle.cjs";
const GRAPH = "dist/src/cli/main.js";
/** A pipeline file the YAML parser refuses (an unclosed flow sequence). */
const BAD_YAML = join(mkdtempSync(join(tmpdir(), "tsbpf-bundle-")), "bad.yaml");
writeFileSync(BAD_YAML, "name: [unclosed\nobject: x.bpf.o\n");
after(() => rmSync(dirname(BAD_YAML), { recursive: true, force: true }));

/** Runs the module graph's `main` (entry GRAPH), or bin/tsbpf.js (which loads the bundle). */
function runWith(entry: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    entry === GRAPH
      ? [
          "--input-type=module",
          "-e",
          `const { main } = await import(${JSON.stringify(`${process.cwd()}/${entry}`)}); process.exitCode = await main(${JSON.stringify(args)});`,
        ]
      : ["bin/tsbpf.js", ...args],
    { encoding: "utf8" },
  );
  // The demo's trace lines carry the process id and a time stamp.
  const norm = (t: string) => t.replace(/tsbpf-vm-\d+/g, "tsbpf-vm-PID").replace(/ \d+\.\d{6}:/g, " T:");
  return { code: r.status, stdout: norm(r.stdout), stderr: norm(r.stderr) };
}

test("the build makes the bundle, newer than tsc's build info, and bin/tsbpf.js would load it", () => {
  assert.ok(existsSync(BUNDLE), "npm run build bundles the CLI");
  assert.ok(
    statSync(BUNDLE).mtimeMs >= statSync("dist/tsconfig.tsbuildinfo").mtimeMs,
    "bin/tsbpf.js takes a bundle at least as new as tsc's last build",
  );
});

test("the bundle and the module graph print the same for help, demo, inspect, a pipeline file and errors", () => {
  for (const args of [
    ["--help"],
    ["--version"],
    ["demo"],
    ["inspect", "examples/tail-call/tail_call.bpf.o", "--json"],
    // A pipeline file: the YAML parser is a script of its own next to the bundle (tsbpf.yaml.cjs).
    ["check", "examples/tail-call/seed.yaml"],
    ["check", BAD_YAML],
    ["run", "examples/tail-call/tail_call.bpf.o", "--prog", "nope", "--data-in", "package.json"],
    // Names an object has of its own are no commands.
    ["toString"],
    ["constructor"],
  ]) {
    const a = runWith(BUNDLE, args);
    const b = runWith(GRAPH, args);
    assert.equal(a.code, b.code, `${args.join(" ")}: ${a.stderr}`);
    assert.equal(a.stdout, b.stdout, args.join(" "));
    assert.equal(a.stderr, b.stderr, args.join(" "));
  }
});

test("each kernel command runs from a bundle of its own, without the VM, and prints what the module graph prints", async () => {
  const { kernelCommands } = await import(`${process.cwd()}/dist/src/cli/kernel-commands.js`);
  const { commands } = await import(`${process.cwd()}/dist/src/cli/commands.js`);
  const listed = JSON.parse(readFileSync("dist/src/cli/tsbpf.bundles.json", "utf8")) as Record<
    string,
    string
  >;
  // Every command is listed; the kernel's with a bundle of their own, the rest with the full one.
  assert.deepEqual(Object.keys(listed).sort(), Object.keys(commands).sort());
  const which = Object.fromEntries(Object.entries(listed).filter(([, f]) => f !== "tsbpf.bundle.cjs"));
  assert.deepEqual(Object.keys(which).sort(), Object.keys(kernelCommands).sort());
  const full = statSync(BUNDLE).size;
  for (const [command, file] of Object.entries(which)) {
    assert.equal(file, `tsbpf.${command}.bundle.cjs`);
    const text = readFileSync(`dist/src/cli/${file}`, "latin1");
    assert.ok(text.length < full * 0.6, `${file}: ${text.length} bytes against the full ${full}`);
    // The VM's own error texts are not in it; the full bundle has them.
    assert.equal(text.includes("the wasm tier produced an invalid module"), false, `${file} carries the VM`);
  }
  assert.equal(
    readFileSync(BUNDLE, "latin1").includes("the wasm tier produced an invalid module"),
    true,
    "the marker is the VM's",
  );
  // Each command's mistakes and help, from its bundle (the trace names the cache of that bundle)
  // and from the module graph: the same.
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-kernel-bundles-"));
  try {
    for (const args of [
      ["attach", "--help"],
      ["attach", "examples/tail-call/tail_call.bpf.o", "--prog", "main_prog"],
      ["attach", "examples/tail-call/tail_call.bpf.o", "--prog", "nosuch", "--iface", "lo"],
      ["detach"],
      ["up", "no-such-pipeline.yaml"],
      ["up", BAD_YAML],
      ["status", "--pin", "/nonexistent/tsbpf"],
      ["down"],
      ["stats", "--help"],
      ["top", "--bogus"],
      ["send", "--packet", "udp"],
      ["swap", "examples/tail-call/seed.yaml"],
    ]) {
      const traced = spawnSync(process.execPath, ["bin/tsbpf.js", ...args], {
        encoding: "utf8",
        env: { ...process.env, TSBPF_CODE_CACHE_TRACE: "1", TSBPF_CODE_CACHE_DIR: dir },
      });
      const cmd = args[0] as string;
      assert.match(
        traced.stderr,
        new RegExp(`^code cache: \\w+ .*/tsbpf\\.${cmd}\\.bundle\\.${cmd}\\.cache`, "m"),
        args.join(" "),
      );
      const a = runWith(BUNDLE, args);
      const b = runWith(GRAPH, args);
      assert.equal(a.code, b.code, `${args.join(" ")}: ${a.stderr}`);
      assert.equal(a.stdout, b.stdout, args.join(" "));
      assert.equal(a.stderr, b.stderr, args.join(" "));
    }
    // A typo shares the cache of every other name: it leaves no cache file of its own.
    const typo = spawnSync(process.execPath, ["bin/tsbpf.js", "atach", "x"], {
      encoding: "utf8",
      env: { ...process.env, TSBPF_CODE_CACHE_TRACE: "1", TSBPF_CODE_CACHE_DIR: dir },
    });
    assert.equal(typo.status, 2);
    assert.match(typo.stderr, /^code cache: \w+ .*\/tsbpf\.bundle\.other\.cache/m);
    assert.match(typo.stderr, /^tsbpf: unknown command 'atach'/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
