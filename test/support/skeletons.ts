/** The repository's BPF objects and their skeletons, for the skeleton tests. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { type GenerateSkeletonOptions, generateSkeleton } from "../../src/gen/skeleton.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";

/** Every BPF object in the repository. */
export function repositoryObjects(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".bpf.o")) out.push(p);
    }
  };
  walk("examples");
  walk("test/bpf");
  return out.sort();
}

/** The committed skeletons and the options they were generated with. */
export const COMMITTED: { object: string; skeleton: string; opts: Partial<GenerateSkeletonOptions> }[] = [
  {
    object: "examples/tail-call/tail_call.bpf.o",
    skeleton: "examples/tail-call/tail_call.skel.ts",
    opts: {},
  },
  { object: "test/bpf/typed/typed.bpf.o", skeleton: "test/bpf/typed/typed.skel.ts", opts: {} },
  {
    object: "test/bpf/typed/skel_shapes.bpf.o",
    skeleton: "test/bpf/typed/skel_shapes.skel.ts",
    opts: { recordTypes: { events: "event" } },
  },
];

/** The options each object's skeleton is generated with in the tests. */
export function optionsFor(object: string): GenerateSkeletonOptions {
  return { file: basename(object), ...COMMITTED.find((c) => c.object === object)?.opts };
}

/** The skeleton of `object`, as `tsbpf gen skeleton` writes it. */
export function generate(object: string, opts: Partial<GenerateSkeletonOptions> = {}): string {
  const bytes = new Uint8Array(readFileSync(object));
  const spec = loadCollectionSpec(bytes, { file: basename(object) });
  return generateSkeleton(spec, bytes, { ...optionsFor(object), ...opts });
}
