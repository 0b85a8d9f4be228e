/**
 * The package as a user gets it (test/support/packed-project.ts: packed, installed into a fresh
 * strict project), and the README's library examples (every ```ts block, read from README.md so
 * it cannot drift), examples/tail-call/loader.ts with its generated skeleton and a check of the
 * public surface type-checked there against the package's public exports alone, with no casts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packedProject, REPO } from "../support/packed-project.js";

const LOADER = "examples/tail-call/loader.ts";
/**
 * Generated skeletons the loader and the README's Skeletons examples import (and nothing else but
 * the package and node: modules), written into the project under the names they import.
 */
const SKELETONS: Record<string, string> = {
  "./tail_call.skel.js": "examples/tail-call/tail_call.skel.ts",
  "./typed.skel.js": "test/bpf/typed/typed.skel.ts",
};

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

test("README examples and the example loader type-check against the packed package alone", () => {
  const blocks = readmeBlocks();
  assert.ok(blocks.length >= 3, `README.md has its library examples (${blocks.length} ts blocks found)`);
  const loader = readFileSync(join(REPO, LOADER), "utf8");
  const sources: [string, string][] = [
    ...blocks.map((b, i): [string, string] => [`readme-${i + 1}.ts`, b]),
    ["loader.ts", loader],
  ];
  for (const [name, source] of sources) {
    const imports = importsOf(source);
    assert.ok(imports.includes("tsbpf") || imports.some((s) => s in SKELETONS), `${name} imports tsbpf`);
    const foreign = imports.filter((s) => s !== "tsbpf" && !s.startsWith("node:") && !(s in SKELETONS));
    assert.deepEqual(foreign, [], `${name} imports only tsbpf, node: modules and generated skeletons`);
    assert.doesNotMatch(code(source), /\bas\s+(?!const\b)[\w{[(]|<\w+>\s*\w|\w!\./, `${name} has no casts`);
  }

  const project = packedProject();
  try {
    project.write(Object.fromEntries(sources));
    project.write({ "surface.ts": SURFACE });
    for (const [specifier, file] of Object.entries(SKELETONS)) {
      project.write({ [specifier.replace(/\.js$/, ".ts")]: readFileSync(join(REPO, file), "utf8") });
    }
    const tsc = project.tsc();
    assert.equal(tsc.status, 0, `tsc in the consumer project:\n${tsc.output}`);
  } finally {
    project.remove();
  }
});
