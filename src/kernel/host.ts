/**
 * Facts about the running host that the kernel backend reads from procfs and sysfs.
 * They are plain files, so this needs no native code.
 */
import { readFileSync, statSync } from "node:fs";
import { InitNamespaceInode } from "../abi/index.js";
import { parseCapEff } from "./errno-hint.js";

/** This process's effective capability mask, or `undefined` when /proc is unreadable. */
export function readEffectiveCaps(): bigint | undefined {
  try {
    return parseCapEff(readFileSync("/proc/self/status", "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The id of a namespace of this process, `/proc/<...>/ns/<kind>`'s inode (which
 * {@link InitNamespaceInode} gives for the host's), or undefined when /proc does not tell.
 */
export function namespaceInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/**
 * Whether this process runs in a user namespace of its own (a rootless container's): its
 * capabilities are then the namespace's, and bpf() counts only those of the initial one.
 */
export function inOwnUserNamespace(): boolean {
  const id = namespaceInode("/proc/self/ns/user");
  return id !== undefined && id !== InitNamespaceInode.user;
}
