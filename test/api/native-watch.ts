/**
 * Preload (`node --import`) that records every native addon and every koffi module the process
 * loads, into the file named by TSBPF_NATIVE_WATCH, one line each. Three doors are watched, so
 * that no way of loading koffi goes unseen: `process.dlopen` (every `.node` binary, whoever
 * requires it), an ESM resolve hook (`import("koffi")`) and, at exit, the CommonJS module cache
 * (`require("koffi")`). TSBPF_NATIVE_WATCH_MODULES (comma-separated) names more modules to
 * record besides koffi, such as the Graphviz WebAssembly module other commands must not load.
 */
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const log = process.env.TSBPF_NATIVE_WATCH;
const watched = [
  "koffi",
  ...(process.env.TSBPF_NATIVE_WATCH_MODULES ?? "").split(",").filter((m) => m !== ""),
];
if (log !== undefined && log !== "") {
  const dlopen = process.dlopen;
  process.dlopen = (...args: Parameters<typeof process.dlopen>): void => {
    appendFileSync(log, `dlopen ${args[1]}\n`);
    Reflect.apply(dlopen, process, args);
  };
  register("./native-watch-hooks.js", import.meta.url, { data: { log, watched } });
  process.on("exit", () => {
    for (const file of Object.keys(createRequire(import.meta.url).cache)) {
      if (watched.some((m) => file.includes(m))) appendFileSync(log, `require ${file}\n`);
    }
  });
}
