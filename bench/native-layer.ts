/**
 * What the loader benchmarks do before their clock starts for open, so that "import" holds the
 * kernel engine's native layer (koffi's binary and libc), as the C loaders have libbpf and libc
 * mapped by the dynamic linker before main(): one public kernel call that needs a syscall, on a
 * pin that is not there.
 */
import type { kernel as Kernel } from "tsbpf";

/** Loads tsbpf's native layer through `kernel` (the namespace the loader imported). */
export function loadNativeLayer(kernel: typeof Kernel): void {
  try {
    kernel.readPinnedStats("/sys/fs/bpf/tsbpf-bench-no-such-pin");
  } catch {
    // Not there, as intended: the syscall layer is up.
  }
}
