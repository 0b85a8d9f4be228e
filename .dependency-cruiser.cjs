/** Keeps the import direction of docs/architecture.md: pure parsing never reaches I/O or a backend. */
module.exports = {
  forbidden: [
    { name: "no-cycles", severity: "error", from: {}, to: { circular: true } },
    {
      name: "pure-layers-no-io",
      comment: "asm/elf/btf/object/internal take bytes and return data: no fs, net, child processes or native code",
      severity: "error",
      from: { path: "^src/(asm|elf|btf|object|internal|net|trace/format)" },
      to: { path: "^(node:)?(fs|fs/promises|net|dgram|child_process|http|https|worker_threads)$|koffi" },
    },
    {
      name: "pure-layers-no-backend",
      severity: "error",
      from: { path: "^src/(asm|elf|btf|object|internal)/" },
      to: { path: "^src/(kernel|vm|cli|tailcall|trace|net)/" },
    },
    { name: "vm-not-kernel", severity: "error", from: { path: "^src/vm/" }, to: { path: "^src/kernel/" } },
    { name: "kernel-not-vm", severity: "error", from: { path: "^src/kernel/" }, to: { path: "^src/vm/" } },
    {
      name: "one-syscall-chokepoint",
      comment: "only src/kernel/sys.ts loads the native binding",
      severity: "error",
      from: { pathNot: "^src/kernel/sys\\.ts$" },
      to: { path: "koffi" },
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
