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

  it("leaves text without secrets unchanged", () => {
    expect(redact('{"msg":"batch committed","readings":12}')).toBe('{"msg":"batch committed","readings":12}');
    expect(createRedactor([undefined, ""])("anything")).toBe("anything");
  });
});
