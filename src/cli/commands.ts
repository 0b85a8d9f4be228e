import type { Command } from "./args.js";
import { kernelCommands } from "./kernel-commands.js";

/**
 * Every CLI command by name. Each command's module is imported when it runs, so a command loads
 * only what it uses: in the bundle (scripts/bundle.mjs) a module's top level runs, and V8
 * compiles it, only when first imported (issue 14's cold start).
 */
export const commands: Record<string, Command> = {
  demo: async (args, io, flags) => (await import("./demo.js")).demoCommand(args, io, flags),
  inspect: async (args, io, flags) => (await import("./inspect.js")).inspectCommand(args, io, flags),
  disasm: async (args, io, flags) => (await import("./disasm.js")).disasmCommand(args, io, flags),
  run: async (args, io, flags) => (await import("./run.js")).runCommand(args, io, flags),
  check: async (args, io, flags) => (await import("./check.js")).checkCommand(args, io, flags),
  graph: async (args, io, flags) => (await import("./graph.js")).graphCommand(args, io, flags),
  "conformance-plugin": async (args, io, flags) =>
    (await import("./conformance-command.js")).conformanceCommand(args, io, flags),
  gen: async (args, io, flags) => (await import("./gen.js")).genCommand(args, io, flags),
  ...kernelCommands,
};
