export * from "./layout.js";
export * from "./rewrite.js";
export * from "./instrument.js";
export * from "./read-stats.js";
