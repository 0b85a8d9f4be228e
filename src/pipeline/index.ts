export * from "./definition.js";
export * from "./pipeline.js";
export * from "./deploy.js";
