import { describe, expect, it } from "vitest";
import { createRedactor } from "./redact.js";

describe("createRedactor", () => {
  const key = "k3yAbCdEf0123456789xyz";
  const redact = createRedactor([`https://user:pa55word@eth.example.com/v2/${key}?token=s3cr3t`]);

  it("replaces the whole URL, its path, query and credentials wherever they appear", () => {
    const line = JSON.stringify({
      err: {
        message: `HTTP request failed.\n\nURL: https://user:pa55word@eth.example.com/v2/${key}?token=s3cr3t\nRequest body: {}`,
        details: `path /v2/${key}?token=s3cr3t, key ${key}, query token=s3cr3t, password pa55word`,
      },
    });
    const out = redact(line);
    expect(out).not.toContain(key);
    expect(out).not.toContain("s3cr3t");
    expect(out).not.toContain("pa55word");
    expect(out).toContain("https://eth.example.com");
    expect(() => JSON.parse(out)).not.toThrow();
  });

  it("also redacts the URL-encoded forms, a query value on its own, and a key given as the user name", () => {
    const redactShort = createRedactor(["https://rpc.example.com/v2/k3y12345?apikey=s3cr3t"]);
    const encoded = encodeURIComponent("https://rpc.example.com/v2/k3y12345?apikey=s3cr3t");
    const out = redactShort(`next=${encoded} and apikey%3Ds3cr3t and s3cr3t`);
    expect(out).not.toContain("k3y12345");
    expect(out).not.toContain("s3cr3t");
    const userKey = createRedactor(["https://SECRETUSERKEY@rpc.example.com"]);
    expect(userKey("auth SECRETUSERKEY failed")).not.toContain("SECRETUSERKEY");
    // Beside a password, the user name is a name, not a secret: only "name:" is redacted.
    expect(createRedactor(["redis://default:pa55w0rd@127.0.0.1:6379"])("default settings")).toBe(
      "default settings",
    );
  });

  it("leaves text without secrets unchanged", () => {
    expect(redact('{"msg":"batch committed","readings":12}')).toBe('{"msg":"batch committed","readings":12}');
    expect(createRedactor([undefined, ""])("anything")).toBe("anything");
  });
});
