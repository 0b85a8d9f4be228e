import type { Command } from "./args.js";
import { disasmCommand } from "./disasm.js";
import { inspectCommand } from "./inspect.js";

/** Every CLI command by name. */
export const commands: Record<string, Command> = {
  inspect: inspectCommand,
  disasm: disasmCommand,
};
