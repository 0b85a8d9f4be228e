import { nameLookup } from "./names.js";

/** `enum xdp_action`: what an XDP program returns. Keys drop the `XDP_` prefix. */
export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

const xdpActionNames = nameLookup(XdpAction, "XDP_");

/** `XDP_PASS` for 2; `undefined` for a value that is no XDP action. */
export function xdpActionName(action: number): string | undefined {
  return xdpActionNames(action);
}
