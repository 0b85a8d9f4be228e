/**
 * The seed's loader.c, on tsbpf: load tail_call.bpf.o, put the two port programs into the prog
 * array, attach the dispatcher to an interface as XDP, print the trace lines until Ctrl+C, and
 * clean up. Run as root after `npx tsc -p .`:
 *
 *   node dist/examples/tail-call/loader.js veth0
 *
 * It imports nothing but `tsbpf`, as a user's loader would (inside this repository the name
 * resolves to the package itself, through package.json's "exports").
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Collection, formatContext, isTsbpfError, loadCollectionSpec } from "tsbpf";

const iface = process.argv[2];
if (iface === undefined) {
  console.error("usage: loader <interface>");
  process.exit(1);
}

// The object sits next to this example's source (two levels above dist/examples/tail-call/).
const objectPath = fileURLToPath(new URL("../../../examples/tail-call/tail_call.bpf.o", import.meta.url));

try {
  const spec = loadCollectionSpec(new Uint8Array(await readFile(objectPath)), { file: "tail_call.bpf.o" });
  // `using` closes every map and program at the end of this block, like tail_call__destroy().
  // On the kernel backend, Collection.load returns a KernelCollection: attachXdp, pin and trace.
  using coll = await Collection.load(spec, { backend: "kernel" });

  // bpf_map__update_elem(prog_array, &key, &prog_fd): a program goes in as its fd.
  const progArray = coll.maps.prog_array;
  const { main_prog, port8080_prog, port22_prog } = coll.programs;
  if (
    progArray === undefined ||
    main_prog === undefined ||
    port8080_prog === undefined ||
    port22_prog === undefined
  ) {
    throw new Error("tail_call.bpf.o does not have the expected maps and programs");
  }
  progArray.set(0, port8080_prog);
  progArray.set(1, port22_prog);

  // bpf_program__attach_xdp(): a bpf_link, detached when `link` is disposed.
  await using link = await main_prog.attachXdp({ iface });
  console.log(
    `XDP program loaded and tail calls configured on interface ${iface} (ifindex: ${link.ifindex}).`,
  );
  console.log("Press Ctrl+C to exit...");

  // Instead of `cat trace_pipe` in another terminal: print this object's lines here.
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  for await (const line of coll.trace({ signal: stop.signal })) {
    console.log(
      `${line.task}-${line.pid} [${line.cpu}] ${line.timestamp.toFixed(6)}: ${line.message.trimEnd()}`,
    );
  }
} catch (e) {
  // tsbpf errors say what failed and, for known causes, how to fix it (missing capabilities...).
  if (isTsbpfError(e)) {
    console.error(
      `loader: ${e.detail}${formatContext(e.context)}${e.hint === undefined ? "" : ` (${e.hint})`}`,
    );
  } else {
    console.error(`loader: ${e instanceof Error ? e.message : String(e)}`);
  }
  process.exitCode = 1;
}
