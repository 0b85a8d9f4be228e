/**
 * The import direction drawn in docs/architecture.md, checked by `npm run lint`:
 *
 *   index → cli → { pipeline, skeleton } → collection → { kernel, vm } → graph
 *         → { tailcall, trace, net, gen, stats } → backend → object → { btf, elf } → asm → abi → internal → errors
 *
 * A module imports only layers to its right; the members of one `{ }` never import each other.
 * A layer is the folder `src/NAME/` or the file `src/NAME.ts`. test/repo/layering.test.ts checks
 * that these rules catch what they should.
 */
const LAYERS = [
  ["index"],
  ["cli"],
  ["pipeline", "skeleton"],
  ["collection"],
  ["kernel", "vm"],
  ["graph"],
  ["tailcall", "trace", "net", "gen", "stats"],
  ["backend"],
  ["object"],
  ["btf", "elf"],
  ["asm"],
  ["abi"],
  ["internal"],
  ["errors"],
];

/** The layers below the engines: pure, they take bytes or data and return data. */
const PURE = LAYERS.slice(LAYERS.findIndex((group) => group.includes("vm")) + 1).flat();

/** The regular expression for the modules of `names`. */
const layer = (names) => `^src/(${names.join("|")})(/|\\.ts$)`;

const layerRules = LAYERS.flatMap((group, i) =>
  group.flatMap((name) => {
    const banned = [...LAYERS.slice(0, i).flat(), ...group.filter((other) => other !== name)];
    if (banned.length === 0) return [];
    return [
      {
        name: `layer-${name}`,
        comment: `${name} imports only the layers to its right in docs/architecture.md, not ${banned.join(", ")}`,
        severity: "error",
        from: { path: layer([name]) },
        to: { path: layer(banned) },
      },
    ];
  }),
);

module.exports = {
  forbidden: [
    { name: "no-cycles", severity: "error", from: {}, to: { circular: true } },
    ...layerRules,
    {
      name: "every-module-in-a-layer",
      comment: "a new folder or top-level file of src/ takes its place in LAYERS and in docs/architecture.md",
      severity: "error",
      from: { path: "^src/", pathNot: layer(LAYERS.flat()) },
      to: {},
    },
    {
      name: "every-import-in-a-layer",
      comment: "a new folder or top-level file of src/ takes its place in LAYERS and in docs/architecture.md",
      severity: "error",
      from: {},
      to: { path: "^src/", pathNot: layer(LAYERS.flat()) },
    },
    {
      name: "pure-layers-no-io",
      comment:
        "below the engines, modules take bytes and return data: no fs, network, child processes or native code (trace/trace-pipe.ts reads trace_pipe; backend/possible-cpus.ts reads the one sysfs file both engines size per-CPU values by)",
      severity: "error",
      from: {
        path: layer(PURE),
        pathNot: "^src/(trace/trace-pipe|backend/possible-cpus)\\.ts$",
      },
      to: { path: "^(node:)?(fs|fs/promises|net|dgram|child_process|http|https|worker_threads|module)$|koffi" },
    },
    {
      name: "one-syscall-chokepoint",
      comment: "only src/kernel/sys.ts loads the native binding",
      severity: "error",
      from: { pathNot: "^src/kernel/sys\\.ts$" },
      to: { path: "koffi" },
    },
    {
      name: "kernel-engine-loaded-lazily",
      comment:
        "collection.ts and the pipeline layer import the kernel engine with import(), so the VM path never loads it (types are free)",
      severity: "error",
      from: { path: "^src/(collection\\.ts$|pipeline/)" },
      to: { path: "^src/kernel/", dynamic: false, dependencyTypesNot: ["type-only"] },
    },
    {
      name: "nothing-imports-cli",
      comment: "the CLI is a layer over the library, not part of it (the package root does not export it)",
      severity: "error",
      from: { pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
