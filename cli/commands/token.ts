import { resolve } from "node:path";
import { Pkcs11Token } from "../../device-agent/pkcs11-signer.js";
import { args, need, type Options, progress, UsageError } from "../args.js";

/** The token named by --module, --token-label and --pin-file, logged in. */
export function openToken(v: Options) {
  const modulePath = need(v, "module");
  const tokenLabel = need(v, "token-label");
  const pinFile = resolve(need(v, "pin-file"));
  progress(`opening token "${tokenLabel}"`);
  const token = Pkcs11Token.open({ modulePath, token: { label: tokenLabel }, pin: { file: pinFile } });
  return { token, modulePath, tokenLabel, pinFile };
}

/** `token check`: open a token and log in, to check the module, the token and the PIN. */
export async function tokenCheck(argv: string[]): Promise<string> {
  const v = args(argv, {
    module: "string",
    "token-label": "string",
    "token-serial": "string",
    "pin-file": "string",
    "pin-env": "string",
  });
  const token = v["token-label"]
    ? { label: v["token-label"] }
    : v["token-serial"]
      ? { serial: v["token-serial"] }
      : undefined;
  if (!token) throw new UsageError("--token-label or --token-serial is required");
  const pin = v["pin-file"] ? { file: v["pin-file"] } : v["pin-env"] ? { env: v["pin-env"] } : undefined;
  if (!pin) throw new UsageError("--pin-file or --pin-env is required (never the PIN itself)");
  progress(`opening token in ${need(v, "module")}`);
  const t = Pkcs11Token.open({ modulePath: need(v, "module"), token, pin });
  const result = `token "${t.label}" (serial ${t.serial}) opened and logged in`;
  t.close();
  return result;
}
