import { request } from "node:https";
import type { SecureContext } from "node:tls";
import { EnrolmentClientError } from "./enrolment-errors.js";
import {
  CERTS_ONLY_TYPE,
  certsFromCertsOnly,
  csrToEstBody,
  EST_PATHS,
  PKCS10_TYPE,
} from "./enrolment-est-wire.js";
import type { DeviceSettingsBundle } from "./settings-bundle.js";

/**
 * The device's side of the enrolment endpoint (fleet/enrolment-server.ts): EST requests over
 * HTTPS, the endpoint checked against the fleet CA the device was given, the device
 * authenticated by its manufacturer certificate (first enrolment) or its fleet certificate
 * (renewal, rotation, instructions, settings). The private key stays where it is: a PEM for
 * development keys, a token through OpenSSL's pkcs11 engine (a SecureContext from
 * device-agent/tls.ts tokenTlsContext).
 */
export type EstClientAuth = { cert: string; key: string; ca: string } | { secureContext: SecureContext };

export type EstAnswer = { status: number; contentType: string; body: string };

export function estRequest(
  url: string,
  path: string,
  auth: EstClientAuth,
  p: { method: "GET" | "POST"; body?: string; contentType?: string; timeoutMs?: number } = { method: "GET" },
): Promise<EstAnswer> {
  const base = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port || 443,
        path,
        method: p.method,
        agent: false,
        timeout: p.timeoutMs ?? 60_000,
        ...("secureContext" in auth
          ? { secureContext: auth.secureContext }
          : { cert: auth.cert, key: auth.key, ca: auth.ca }),
        headers: p.body
          ? {
              "content-type": p.contentType ?? PKCS10_TYPE,
              "content-transfer-encoding": "base64",
              "content-length": Buffer.byteLength(p.body),
            }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (cause) =>
      reject(
        new EnrolmentClientError("unreachable", "The enrolment endpoint could not be reached.", {
          cause,
          details: `${url}: ${cause.message}`,
        }),
      ),
    );
    req.end(p.body);
  });
}

function refused(a: EstAnswer): EnrolmentClientError {
  // The endpoint's body is "<ErrorName>:<code>: <message>".
  return new EnrolmentClientError("refused", `The enrolment endpoint refused: ${a.body.trim()}`, {
    status: a.status,
  });
}

/** simpleenroll (first enrolment) or simplereenroll (renewal, rotation): the issued certificate (PEM). */
export async function estEnroll(
  url: string,
  auth: EstClientAuth,
  csrPem: string,
  reenroll = false,
  /**
   * For a re-enrolment with a new key: the time (unix seconds) from which the device signs with
   * it, which the registry's rotation takes as its own (`?rotateAt=`, our extension of EST).
   */
  rotateAt?: number,
): Promise<string> {
  const path = reenroll ? EST_PATHS.simplereenroll : EST_PATHS.simpleenroll;
  const query = rotateAt === undefined ? "" : `?rotateAt=${rotateAt}`;
  const a = await estRequest(url, `${path}${query}`, auth, {
    method: "POST",
    body: csrToEstBody(csrPem),
  });
  if (a.status !== 200) throw refused(a);
  if (!a.contentType.startsWith(CERTS_ONLY_TYPE.split(";")[0] as string))
    throw new EnrolmentClientError("bad_response", "The endpoint's answer is not a certs-only PKCS#7.", {
      details: a.contentType,
    });
  const [cert] = certsFromCertsOnly(a.body);
  if (!cert) throw new EnrolmentClientError("bad_response", "The endpoint's answer holds no certificate.");
  return cert;
}

/** What the fleet wants of this device now: a new key when the operator queued a rotation. */
export async function estInstructions(url: string, auth: EstClientAuth): Promise<{ rotate: boolean }> {
  const a = await estRequest(url, EST_PATHS.instructions, auth);
  if (a.status !== 200) throw refused(a);
  return JSON.parse(a.body) as { rotate: boolean };
}

/** The device's settings bundle (broker, chain, registry, feeds, CA chain, its certificate). */
export async function estSettings(url: string, auth: EstClientAuth): Promise<DeviceSettingsBundle> {
  const a = await estRequest(url, EST_PATHS.settings, auth);
  if (a.status !== 200) throw refused(a);
  return JSON.parse(a.body) as DeviceSettingsBundle;
}
