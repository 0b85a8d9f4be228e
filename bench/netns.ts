/**
 * A throw-away network namespace with a veth pair, for attaching XDP without touching the host's
 * interfaces. Created with iproute2 and removed (with everything in it) by `remove()`.
 */
import { execFileSync } from "node:child_process";

/** A namespace `name` holding veth0 <-> veth1, both up. */
export interface BenchNetns {
  readonly name: string;
  readonly iface: string;
  /** argv prefix that runs a command inside the namespace. */
  readonly exec: readonly string[];
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Creates the namespace; on failure removes what was made and rethrows. */
export function createNetns(): BenchNetns {
  const name = `tsbpf-bench-${process.pid}`;
  ip("netns", "add", name);
  const remove = (): void => {
    try {
      ip("netns", "del", name);
    } catch {
      // Already gone.
    }
  };
  try {
    ip("-n", name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1");
    ip("-n", name, "link", "set", "veth0", "up");
    ip("-n", name, "link", "set", "veth1", "up");
  } catch (e) {
    remove();
    throw e;
  }
  return { name, iface: "veth0", exec: ["ip", "netns", "exec", name], remove };
}
