/** Generated skeletons' runtime: `defineSkeleton` and the types skeleton modules are written in. */
export * from "./types.js";
export { defineSkeleton } from "./define-skeleton.js";
