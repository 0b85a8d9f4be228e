import type { Command } from "./args.js";

/**
 * The commands that run on the kernel only: attach, detach, up, down, status, stats, top, send and
 * swap. They never load the VM, so each has a bundle of its own (scripts/bundle.mjs,
 * tsbpf.<command>.bundle.cjs) without the VM, the drawing or the other commands: for attach, 200
 * of the CLI's 525 KB for each start to read and V8 to restore (issue 14's cold start).
 * Each command's module is imported when it runs, as in commands.ts (every command).
 */
export const kernelCommands: Record<string, Command> = {
  attach: async (args, io, flags) => (await import("./attach.js")).attachCommand(args, io, flags),
  detach: async (args, io, flags) => (await import("./detach.js")).detachCommand(args, io, flags),
  up: async (args, io, flags) => (await import("./up.js")).upCommand(args, io, flags),
  status: async (args, io, flags) => (await import("./status.js")).statusCommand(args, io, flags),
  down: async (args, io, flags) => (await import("./down.js")).downCommand(args, io, flags),
  stats: async (args, io, flags) => (await import("./stats.js")).statsCommand(args, io, flags),
  top: async (args, io, flags) => (await import("./top.js")).topCommand(args, io, flags),
  send: async (args, io, flags) => (await import("./send.js")).sendCommand(args, io, flags),
  swap: async (args, io, flags) => (await import("./swap.js")).swapCommand(args, io, flags),
};
