export * from "./definition.js";
export * from "./pipeline.js";
