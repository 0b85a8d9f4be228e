/**
 * The kernel's page size on the machines tsbpf targets (x86-64, and arm64 with 4K pages): ring
 * buffers are laid out in pages, and an XDP test run's frame is one page.
 */
export const PAGE_SIZE = 4096;
