export * from "./types.js";
export * from "./parse-elf.js";
