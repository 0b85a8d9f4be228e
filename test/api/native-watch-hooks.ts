/** ESM hooks of native-watch.ts: records every resolved module whose URL names koffi. */
import { appendFileSync } from "node:fs";

let log: string | undefined;

/** Receives the log file from native-watch.ts. */
export function initialize(data: { log: string }): void {
  log = data.log;
}

/** Passes resolution on unchanged, noting koffi's modules. */
export async function resolve(
  specifier: string,
  context: object,
  next: (specifier: string, context: object) => Promise<{ url: string }>,
): Promise<{ url: string }> {
  const r = await next(specifier, context);
  if (log !== undefined && r.url.includes("koffi")) appendFileSync(log, `import ${r.url}\n`);
  return r;
}
