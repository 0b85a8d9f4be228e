/**
 * The package as a user gets it: `npm pack`, the tarball installed into a fresh strict project
 * (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, module nodenext), and the
 * README's library examples (every ```ts block, read from README.md so it cannot drift),
 * examples/tail-call/loader.ts and a check of the public surface type-checked there against the
 * package's public exports alone, with no casts. The package's dependencies (koffi, the Graphviz
 * WebAssembly module) are installed from this repository's node_modules so that nothing is fetched.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

const REPO = resolve(".");
const LOADER = "examples/tail-call/loader.ts";

/** The ```ts blocks of README.md. */
function readmeBlocks(): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
}

/** Code without its comments (good enough for the examples: no `//` inside their strings). */
const code = (source: string): string => source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");

/** Module specifiers a source imports. */
const importsOf = (source: string): string[] =>
  [...code(source).matchAll(/(?:\bfrom|\bimport)\s*\(?\s*"([^"]+)"/g)].map((m) => m[1] ?? "");

/**
 * What users are promised about the public surface: `Collection.load` is typed by its backend,
 * and the `kernel` namespace holds no internals. Each `@ts-expect-error` fails the check when
 * the line it marks starts to compile.
 */
const SURFACE = `import { Collection, type CollectionSpec, kernel, type VmCollection } from "tsbpf";

declare const spec: CollectionSpec;
declare const backend: "vm" | "kernel";

const onKernel: kernel.KernelCollection = await Collection.load(spec, { backend: "kernel", pinDir: "/sys/fs/bpf/x" });
const onVm: VmCollection = await Collection.load(spec);
const onVmToo: VmCollection = await Collection.load(spec, { backend: "vm", vm: { budget: 1000 } });
const either = await Collection.load(spec, { backend });
if (either.backend === "kernel") either.trace();
const link: kernel.KernelXdpLink | undefined = await onKernel.programs.main_prog?.attachXdp({ iface: "lo", mode: "generic" });
const map: kernel.KernelMap | undefined = onKernel.maps.prog_array;
map?.pin("/sys/fs/bpf/x/prog_array");
kernel.unpinPipeline("/sys/fs/bpf/x");
console.log(onVm.backend, onVmToo.backend, link?.ifindex, kernel.DEFAULT_PIN_ROOT);
// @ts-expect-error the VM collection has no trace()
onVm.trace();
// @ts-expect-error a VM load is not a kernel collection
const wrong: kernel.KernelCollection = await Collection.load(spec);
// @ts-expect-error a run-time backend may be the VM
const unsure: kernel.KernelCollection = either;
// @ts-expect-error internal: loading goes through Collection.load
kernel.loadKernelCollection(spec);
// @ts-expect-error internal: the syscall layer
kernel.defaultSys();
// @ts-expect-error internal: bpf_attr builders
kernel.mapCreateAttr;
// @ts-expect-error internal: netlink encoders
kernel.setLinkXdpMessage;
// @ts-expect-error internal: raw map operations
kernel.updateElem;
// @ts-expect-error internal: syscall numbers
kernel.SYS_BPF;
console.log(wrong, unsure);
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    module: "nodenext",
    moduleResolution: "nodenext",
    target: "es2022",
    lib: ["es2023", "esnext.disposable"],
    types: ["node"],
    typeRoots: [join(REPO, "node_modules/@types")],
    noEmit: true,
    skipLibCheck: false,
  },
  include: ["*.ts"],
};

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    timeout: 120_000,
    env: {
      ...process.env,
      npm_config_update_notifier: "false",
      npm_config_fund: "false",
      npm_config_audit: "false",
    },
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test("README examples and the example loader type-check against the packed package alone", () => {
  assert.ok(existsSync(join(REPO, "dist/src/index.d.ts")), "the package is built (npm test builds first)");
  const blocks = readmeBlocks();
  assert.ok(blocks.length >= 3, `README.md has its library examples (${blocks.length} ts blocks found)`);
  const loader = readFileSync(join(REPO, LOADER), "utf8");
  const sources: [string, string][] = [
    ...blocks.map((b, i): [string, string] => [`readme-${i + 1}.ts`, b]),
    ["loader.ts", loader],
  ];
  for (const [name, source] of sources) {
    const imports = importsOf(source);
    assert.ok(imports.includes("tsbpf"), `${name} imports tsbpf`);
    const foreign = imports.filter((s) => s !== "tsbpf" && !s.startsWith("node:"));
    assert.deepEqual(foreign, [], `${name} imports only tsbpf and node: modules`);
    assert.doesNotMatch(code(source), /\bas\s+(?!const\b)[\w{[(]|<\w+>\s*\w|\w!\./, `${name} has no casts`);
  }

  const { dependencies = {} } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  assert.ok("koffi" in dependencies, "the package's dependencies are read");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-packed-"));
  try {
    const packed = JSON.parse(
      run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], REPO),
    ) as {
      filename: string;
    }[];
    const tarball = join(dir, packed[0]?.filename ?? "");
    const project = join(dir, "project");
    mkdirSync(project);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    run(
      "npm",
      [
        "install",
        "--offline",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        ...Object.keys(dependencies).map((name) => join(REPO, "node_modules", name)),
        tarball,
      ],
      project,
    );
    assert.ok(
      existsSync(join(project, "node_modules/tsbpf/dist/src/index.d.ts")),
      "the tarball is installed",
    );
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
    for (const [name, source] of sources) writeFileSync(join(project, name), source);
    writeFileSync(join(project, "surface.ts"), SURFACE);
    const tsc = spawnSync(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", project], {
      cwd: project,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(tsc.status, 0, `tsc in the consumer project:\n${tsc.stdout}${tsc.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
