/** Code generation: `generateSkeleton`, the library behind `tsbpf gen skeleton`. */
export { generateSkeleton, type GenerateSkeletonOptions } from "./skeleton.js";
