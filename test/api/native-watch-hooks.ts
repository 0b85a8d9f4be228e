/** ESM hooks of native-watch.ts: records every resolved module whose URL names a watched module (koffi...). */
import { appendFileSync } from "node:fs";

let log: string | undefined;
let watched: string[] = ["koffi"];

/** Receives the log file and the watched module names from native-watch.ts. */
export function initialize(data: { log: string; watched: string[] }): void {
  log = data.log;
  watched = data.watched;
}

/** Passes resolution on unchanged, noting the watched modules. */
export async function resolve(
  specifier: string,
  context: object,
  next: (specifier: string, context: object) => Promise<{ url: string }>,
): Promise<{ url: string }> {
  const r = await next(specifier, context);
  if (log !== undefined && watched.some((m) => r.url.includes(m))) appendFileSync(log, `import ${r.url}\n`);
  return r;
}
