export * from "./types.js";
export * from "./object-types.js";
export * from "./load-collection-spec.js";
export * from "./sec-table.js";
export * from "./tail-calls.js";
export * from "./insn-location.js";
export * from "./fixup-datasecs.js";
