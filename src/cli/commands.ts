import type { Command } from "./args.js";
import { checkCommand } from "./check.js";
import { conformanceCommand } from "./conformance-command.js";
import { demoCommand } from "./demo.js";
import { disasmCommand } from "./disasm.js";
import { graphCommand } from "./graph.js";
import { inspectCommand } from "./inspect.js";
import { runCommand } from "./run.js";

/** Every CLI command by name. The kernel-only commands load the kernel engine lazily. */
export const commands: Record<string, Command> = {
  demo: demoCommand,
  inspect: inspectCommand,
  disasm: disasmCommand,
  run: runCommand,
  check: checkCommand,
  graph: graphCommand,
  "conformance-plugin": conformanceCommand,
  attach: async (args, io, flags) => (await import("./attach.js")).attachCommand(args, io, flags),
  detach: async (args, io, flags) => (await import("./detach.js")).detachCommand(args, io, flags),
  up: async (args, io, flags) => (await import("./up.js")).upCommand(args, io, flags),
  status: async (args, io, flags) => (await import("./status.js")).statusCommand(args, io, flags),
  down: async (args, io, flags) => (await import("./down.js")).downCommand(args, io, flags),
  gen: async (args, io, flags) => (await import("./gen.js")).genCommand(args, io, flags),
  stats: async (args, io, flags) => (await import("./stats.js")).statsCommand(args, io, flags),
  top: async (args, io, flags) => (await import("./top.js")).topCommand(args, io, flags),
  send: async (args, io, flags) => (await import("./send.js")).sendCommand(args, io, flags),
  swap: async (args, io, flags) => (await import("./swap.js")).swapCommand(args, io, flags),
};
