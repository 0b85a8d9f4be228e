/**
 * The CLI-style loader's first clock reading, in a module of its own: bench/cli-style-loader.ts
 * imports it before the library, so that in its bundle this runs before the library's modules
 * start (esbuild keeps ES module evaluation order) and their start counts as the job's import.
 */
/** process.hrtime before any of the library's modules ran. */
export const t0: bigint = process.hrtime.bigint();
