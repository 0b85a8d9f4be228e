export * from "./types.js";
export * from "./parse-btf.js";
export * from "./parse-btf-ext.js";
export * from "./marshal-btf.js";
export * from "./format-raw.js";
export * from "./type-helpers.js";
export * from "./marshal-ext.js";
export * from "./codec.js";
