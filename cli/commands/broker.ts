import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FLEET_CA_FILES, loadFleetCa } from "../../pki/fleet-ca.js";
import { handKeyFileTo } from "../../pki/key-file.js";
import { mosquittoConfig } from "../../pki/mosquitto-config.js";
import { args, need, progress } from "../args.js";
import { readFleet } from "../fleet-config.js";

/** `broker config`: the broker's and the bridge's certificates, Mosquitto's configuration and ACL. */
export async function brokerConfig(argv: string[]): Promise<string> {
  const v = args(argv, { dir: "string", port: "string", host: "string", "bridge-cn": "string" });
  const dir = resolve(need(v, "dir"));
  readFleet(dir);
  const ca = await loadFleetCa(join(dir, "ca"));
  const host = v.host ?? "localhost";
  // One CN per bridge process (the broker makes the CN the client id): --bridge-cn a,b,c.
  const bridgeCns = (v["bridge-cn"] ?? "sensor-oracle-bridge").split(",").filter(Boolean);
  const bridgeCn = bridgeCns[0] ?? "sensor-oracle-bridge";
  const out = join(dir, "broker");
  mkdirSync(out, { recursive: true });
  progress(`issuing the broker's certificate for ${host} and the bridge's client certificate (${bridgeCn})`);
  const server = await ca.issueServer({ commonName: host, dnsNames: [host, "localhost"] });
  const bridge = await ca.issueClient({ commonName: bridgeCn });
  const moreBridges = await Promise.all(
    bridgeCns.slice(1).map((commonName) => ca.issueClient({ commonName })),
  );
  const put = (name: string, body: string, mode = 0o644) => {
    writeFileSync(join(out, name), body, { mode });
    return join(out, name);
  };
  put("server.pem", server.certPem);
  // Owner-only like every key; Mosquitto started as root drops to user mosquitto before it reads
  // the key, so the file is handed to that user (still 0600) when we run as root.
  handKeyFileTo(put("server.key", server.keyPem, 0o600), "mosquitto");
  put("bridge.pem", bridge.certPem);
  put("bridge.key", bridge.keyPem, 0o600);
  bridgeCns.slice(1).forEach((cn, i) => {
    put(`bridge-${cn}.pem`, (moreBridges[i] as typeof bridge).certPem);
    put(`bridge-${cn}.key`, (moreBridges[i] as typeof bridge).keyPem, 0o600);
  });
  put("ca-chain.pem", ca.certPem);
  put("crl.pem", await ca.crlPem());
  const { conf, acl } = mosquittoConfig({
    port: need(v, "port"),
    files: {
      cafile: join(out, "ca-chain.pem"),
      certfile: join(out, "server.pem"),
      keyfile: join(out, "server.key"),
      crlfile: join(dir, "ca", FLEET_CA_FILES.crl),
      aclFile: join(out, "acl"),
    },
    bridgeUsers: bridgeCns,
  });
  put("acl", acl);
  put("mosquitto.conf", conf);
  // The bridges' share group: secret, so that no device can join it (Mosquitto's acl_file does not
  // check SUBSCRIBE). The bridges' settings take it from here (mqtt.shareGroup).
  const shareGroup = `so-${randomBytes(16).toString("hex")}`;
  const settings = put(
    "bridge-settings.json",
    `${JSON.stringify({ mqtt: { caFile: "ca-chain.pem", certFile: "bridge.pem", keyFile: "bridge.key", shareGroup } }, null, 2)}\n`,
    0o600,
  );
  return `broker config written to ${join(out, "mosquitto.conf")} (bridge client certificate and its MQTT settings in ${settings})`;
}
