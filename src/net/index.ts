export * from "./address.js";
export * from "./build.js";
export * from "./checksum.js";
export * from "./layers.js";
export * from "./parse.js";
export * from "./pcap.js";
export * from "./pcapng.js";
export * from "./packet-spec.js";
