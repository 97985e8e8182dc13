import { describe, expect, it } from "vitest";
import { mosquittoConfig } from "./mosquitto-config.js";

const files = {
  cafile: "/etc/so/ca-chain.pem",
  certfile: "/etc/so/server.pem",
  keyfile: "/etc/so/server.key",
  crlfile: "/etc/so/crl.pem",
  aclFile: "/etc/so/acl",
};

describe("the generated Mosquitto configuration", () => {
  const { conf, acl } = mosquittoConfig({ port: 8883, files, bridgeUsers: ["bridge-a", "bridge-b"] });
  const lines = conf.split("\n");

  it("requires a fleet certificate, takes its CN as the username and checks the CRL", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "listener 8883",
        "cafile /etc/so/ca-chain.pem",
        "certfile /etc/so/server.pem",
        "keyfile /etc/so/server.key",
        "crlfile /etc/so/crl.pem",
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.3",
        "acl_file /etc/so/acl",
      ]),
    );
  });

  it("binds client ids to certificate CNs and bounds message size, connections and keepalive", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "use_username_as_clientid true",
        "message_size_limit 4096",
        "max_connections 10000",
        "max_keepalive 120",
      ]),
    );
    const sized = mosquittoConfig({
      port: 1,
      files,
      bridgeUsers: [],
      messageSizeLimit: 2048,
      maxConnections: 50,
      maxKeepalive: 30,
    }).conf.split("\n");
    expect(sized).toEqual(
      expect.arrayContaining(["message_size_limit 2048", "max_connections 50", "max_keepalive 30"]),
    );
    expect(lines.filter((l) => l.startsWith("listener "))).toHaveLength(1);
  });

  it("binds to one address and logs to stdout only when asked", () => {
    const local = mosquittoConfig({
      port: 1,
      bindAddress: "127.0.0.1",
      files,
      bridgeUsers: [],
      logToStdout: true,
    });
    expect(local.conf).toContain("listener 1 127.0.0.1\n");
    expect(local.conf).toContain("log_dest stdout\n");
    expect(conf).not.toContain("log_dest");
    const { crlfile: _, ...withoutCrl } = files;
    const noCrl = mosquittoConfig({ port: 1, files: withoutCrl, bridgeUsers: [] });
    expect(noCrl.conf).not.toMatch(/^crlfile /m);
  });

  it("lets each bridge read every device's readings and write acks, and a device only its own topics", () => {
    expect(acl).toBe(
      [
        "user bridge-a",
        "topic read so/v1/devices/+/readings",
        "topic write so/v1/devices/+/acks",
        "",
        "user bridge-b",
        "topic read so/v1/devices/+/readings",
        "topic write so/v1/devices/+/acks",
        "",
        "pattern write so/v1/devices/%u/readings",
        "pattern read so/v1/devices/%u/acks",
        "",
      ].join("\n"),
    );
  });
});
