import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { parseDeviceCertificate } from "../bridge/certificates.js";
import { sensorOracleAbi } from "../chain/abi.js";
import { reviewDeviceCsr } from "../pki/csr-review.js";
import { CertificateRequestError, FactoryCertificateError } from "../pki/errors.js";
import { verifyFactoryCertificate } from "../pki/factory-certificate.js";
import { FLEET_CA_FILES, type FleetCa, type IssuedDeviceFromCsr } from "../pki/fleet-ca.js";
import { deviceNameToId, SensorOracleError } from "../protocol/index.js";
import type { AuditLog } from "./audit-log.js";
import type { AllowList } from "./enrolment-allow-list.js";
import { RegistrationBatcher } from "./enrolment-batcher.js";
import { CERTS_ONLY_TYPE, certsOnly, EST_PATHS, estBodyToCsrPem } from "./enrolment-est-wire.js";
import { EnrolmentError } from "./errors.js";
import { certifyFactoryKey } from "./factory-keys.js";
import { type RegistryWriter, rotateDevice } from "./registry-admin.js";
import { rotateFromCsr } from "./rotate-csr.js";
import { dequeueRotation, rotationQueued } from "./rotation-queue.js";
import { type FleetPublicSettings, settingsBundle } from "./settings-bundle.js";

/**
 * The fleet's enrolment endpoint: EST (RFC 7030) over HTTPS with TLS client authentication.
 *
 * - `simpleenroll`, authenticated by the device's manufacturer certificate (it must chain to the
 *   pinned manufacturer CA and its key be on the allow-list): the CSR, signed by that factory key,
 *   is certified by the fleet CA; the device is registered on-chain with others in `registerBatch`
 *   transactions (RegistrationBatcher); the answer, once registered, is the certificate.
 * - `simplereenroll`, authenticated by the device's current fleet certificate: a CSR for the same
 *   key renews the certificate (the registry's certificate fingerprint moves to the new one with
 *   `rotate` for the same key); a CSR for a new key rotates the key (`rotate` from now: readings
 *   signed before keep verifying with the old key). While the operator has a rotation queued
 *   (`device rotate --queue`), a renewal of the old key is refused with `rotation_required`.
 * - `instructions` (not EST): what the fleet wants of the device: `{ "rotate": true }` when queued.
 * - `settings` (not EST): the device's settings bundle (broker, chain, registry, feeds, CA chain).
 * - `cacerts`: the fleet CA chain, certs-only.
 *
 * Every refusal is an HTTP error whose body names the typed error (`EnrolmentError:not_allowed`),
 * an `enrolment_refused` audit entry, and a count in `stats.refused`; the server keeps running.
 */
export type EnrolmentServerOptions = {
  /** The fleet folder: devices/, bundles/, ca/ (CRL, revocations), the rotation queue. */
  dir: string;
  ca: FleetCa;
  /** The manufacturer CA(s) pinned for zero-touch enrolment (PEM). */
  manufacturerCa: string;
  allowList: AllowList;
  registry?: RegistryWriter;
  audit: AuditLog;
  settings: FleetPublicSettings;
  /** The endpoint's own TLS certificate and key (issued by the fleet CA: devices pin that CA). */
  tls: { certPem: string; keyPem: string };
  maxBatch?: number;
  batchWindowMs?: number;
  /**
   * How long a new certificate file sits in devices/ before the registry is changed to name it
   * (renewal, rotation): the bridges scan that folder every 5 s (bridge/server.ts), and a reading
   * is checked against the certificate the registry names, so the folder goes first. Default 6 s.
   */
  certificateSettleMs?: number;
  /** Validity of the certificates the endpoint issues (default: the CA's device default). */
  validSeconds?: number;
  log?: (line: string) => void;
};

export type EnrolmentStats = {
  enrolled: number;
  renewed: number;
  rotated: number;
  refused: Record<string, number>;
};

export type EnrolmentServer = {
  port: number;
  server: Server;
  stats: EnrolmentStats;
  batcher: RegistrationBatcher | undefined;
  close(): Promise<void>;
};

/** A refusal the device is told about: HTTP status and the typed error. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly error: SensorOracleError,
  ) {
    super(error.shortMessage);
  }
}

const BODY_LIMIT = 16 * 1024;
/** How far back a device may date its key rotation (`?rotateAt=`), and ahead (its clock may run ahead). */
const ROTATION_BACKDATE_S = 300;
const ROTATION_AHEAD_S = 5;
/** How long after a rotation the replaced certificate may ask for it again (a lost answer). */
const ROTATION_REPEAT_S = 600;

/**
 * The rotation time a re-enrolment asks for (`?rotateAt=<unix seconds>`): the moment the device
 * stopped signing with its old key. Undefined when absent (the rotation is from now). Refused when
 * it is not an integer, more than 5 minutes back or more than 5 s ahead; a time a few seconds
 * ahead is waited for by the caller (the registry takes no rotation time past its block time).
 */
function rotationTime(req: IncomingMessage): number | undefined {
  const raw = new URL(req.url ?? "/", "https://endpoint").searchParams.get("rotateAt");
  if (raw === null) return undefined;
  const now = Math.floor(Date.now() / 1000);
  const at = /^[0-9]{1,12}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(at >= now - ROTATION_BACKDATE_S && at <= now + ROTATION_AHEAD_S))
    throw new Refusal(
      400,
      new EnrolmentError(
        "bad_rotation_time",
        "The rotation time must be a unix time (seconds) within the last 5 minutes: is the device's clock right?",
        { details: `rotateAt=${raw.slice(0, 20)}, endpoint time ${now}` },
      ),
    );
  return at;
}

/** The refusal of a client certificate that is not (or no longer speaks as) the device's current one. */
function notCurrent(name: string): Refusal {
  return new Refusal(
    403,
    new EnrolmentError(
      "not_current_certificate",
      "The client certificate is not the device's current certificate.",
      {
        details: `device ${name}`,
      },
    ),
  );
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        reject(new Refusal(413, new SensorOracleError("Request body too large.")));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The client's certificate chain as the TLS handshake gave it (leaf first), PEM. */
function peerChain(req: IncomingMessage): string[] {
  const socket = req.socket as TLSSocket;
  const out: string[] = [];
  let c = socket.getPeerCertificate(true) as
    | (ReturnType<TLSSocket["getPeerCertificate"]> & { issuerCertificate?: unknown; raw?: Buffer })
    | undefined;
  const seen = new Set<string>();
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new X509Certificate(c.raw).toString());
    c = c.issuerCertificate as typeof c;
  }
  return out;
}

export async function startEnrolmentServer(
  o: EnrolmentServerOptions,
  port: number,
  host = "0.0.0.0",
): Promise<EnrolmentServer> {
  const stats: EnrolmentStats = { enrolled: 0, renewed: 0, rotated: 0, refused: {} };
  const log = o.log ?? (() => {});
  const batcher = o.registry
    ? new RegistrationBatcher(o.registry, {
        maxBatch: o.maxBatch ?? 50,
        windowMs: o.batchWindowMs ?? 2_000,
        onBatch: (b) => log(`registered ${b.deviceIds.length} devices in ${b.hash} (gas ${b.gasUsed})`),
      })
    : undefined;
  const devicesDir = `${o.dir}/devices`;
  const bundlesDir = `${o.dir}/bundles`;
  mkdirSync(devicesDir, { recursive: true });
  mkdirSync(bundlesDir, { recursive: true });
  const settle = () =>
    o.registry ? new Promise((r) => setTimeout(r, o.certificateSettleMs ?? 6_000)) : Promise.resolve();
  const validity = () =>
    o.validSeconds
      ? { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + o.validSeconds * 1000) }
      : {};
  /** Issuances and rotations one at a time: each reads and writes the device's files. */
  let serial: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(f: () => Promise<T>): Promise<T> => {
    const next = serial.then(f, f);
    serial = next.catch(() => {});
    return next;
  };

  const issuers = () =>
    readFileSync(`${o.dir}/ca/${FLEET_CA_FILES.chain}`, "utf8")
      .split(/(?=-----BEGIN CERTIFICATE-----)/)
      .filter((p) => p.includes("BEGIN CERTIFICATE"))
      .map((p) => new X509Certificate(p));
  const revokedSerials = () => {
    const f = `${o.dir}/ca/${FLEET_CA_FILES.revoked}`;
    return new Set(
      existsSync(f)
        ? (JSON.parse(readFileSync(f, "utf8")) as { serialNumber: string }[]).map((r) =>
            r.serialNumber.toLowerCase(),
          )
        : [],
    );
  };

  /**
   * The device a fleet certificate authenticates: its current certificate, not revoked. With
   * `superseded`, also a certificate the device's current one replaced (kept as
   * `<name>.<serial>.pem`): `superseded` is then true, and the caller decides what it may ask.
   */
  async function fleetDevice(
    req: IncomingMessage,
    opts: { superseded?: boolean } = {},
  ): Promise<{ name: string; currentPem: string; superseded: boolean; supersededAtMs: number }> {
    const [leaf] = peerChain(req);
    if (!leaf)
      throw new Refusal(
        401,
        new EnrolmentError("not_current_certificate", "Re-enrolment needs the device's fleet certificate."),
      );
    const cert = new X509Certificate(leaf);
    if (!issuers().some((i) => cert.checkIssued(i) && cert.verify(i.publicKey)))
      throw new Refusal(
        403,
        new EnrolmentError("certificate_not_fleet", "The client certificate is not one of this fleet's."),
      );
    const dc = parseDeviceCertificate(leaf);
    const file = `${devicesDir}/${dc.name}.pem`;
    const currentPem = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (revokedSerials().has(dc.serialNumber.toLowerCase()))
      throw new Refusal(403, new EnrolmentError("revoked", "The device's certificate is revoked."));
    const keptFile = `${devicesDir}/${dc.name}.${dc.serialNumber}.pem`;
    const isCurrent =
      currentPem !== "" && new X509Certificate(currentPem).fingerprint256 === cert.fingerprint256;
    const superseded =
      opts.superseded === true &&
      currentPem !== "" &&
      !isCurrent &&
      existsSync(keptFile) &&
      new X509Certificate(readFileSync(keptFile, "utf8")).fingerprint256 === cert.fingerprint256;
    if (!isCurrent && !superseded) throw notCurrent(dc.name);
    if (o.registry) {
      const d = await o.registry.publicClient.readContract({
        address: o.registry.registry,
        abi: sensorOracleAbi,
        functionName: "getDevice",
        args: [deviceNameToId(dc.name)],
      });
      if (d.status === 2)
        throw new Refusal(403, new EnrolmentError("revoked", "The device is revoked on-chain."));
    }
    if (new Date() > new Date(cert.validTo))
      throw new Refusal(403, new EnrolmentError("not_current_certificate", "The certificate has expired."));
    // When it was replaced: its file was kept then (keep()).
    return {
      name: dc.name,
      currentPem,
      superseded,
      supersededAtMs: superseded ? statSync(keptFile).mtimeMs : 0,
    };
  }

  function keep(cert: { name: string; certPem: string }, previousPem?: string): void {
    if (previousPem) {
      const old = parseDeviceCertificate(previousPem);
      writeFileSync(`${devicesDir}/${cert.name}.${old.serialNumber}.pem`, previousPem);
    }
    writeFileSync(`${devicesDir}/${cert.name}.pem`, cert.certPem);
    writeFileSync(
      `${bundlesDir}/${cert.name}.json`,
      `${JSON.stringify(settingsBundle({ ...cert, curve: parseDeviceCertificate(cert.certPem).curve }, o.settings), null, 2)}\n`,
    );
  }

  async function simpleEnroll(req: IncomingMessage, body: string): Promise<string> {
    const chain = peerChain(req);
    if (!chain.length)
      throw new Refusal(
        401,
        new EnrolmentError(
          "no_factory_certificate",
          "Enrolment needs the device's manufacturer certificate.",
        ),
      );
    let factory: Awaited<ReturnType<typeof verifyFactoryCertificate>>;
    try {
      factory = await verifyFactoryCertificate({ chain, pinned: o.manufacturerCa });
    } catch (err) {
      if (err instanceof FactoryCertificateError) throw new Refusal(403, err);
      throw err;
    }
    const keyHex = Buffer.from(factory.publicKey).toString("hex");
    if (!o.allowList.keys.has(keyHex))
      throw new Refusal(
        403,
        new EnrolmentError("not_allowed", "The device's factory key is not on the fleet's allow-list.", {
          details: `manufacturer certificate ${factory.subject}, serial ${factory.serial}`,
        }),
      );
    const csrPem = estBodyToCsrPem(body);
    const cert = await oneAtATime(async () => {
      let issued: IssuedDeviceFromCsr;
      try {
        const reviewed = await reviewDeviceCsr(csrPem, { curve: "p256" });
        const existing = `${devicesDir}/${reviewed.name}.pem`;
        // A device that asks again (its answer was lost) gets its certificate again.
        if (existsSync(existing)) {
          const pem = readFileSync(existing, "utf8");
          const dc = parseDeviceCertificate(pem);
          if (
            Buffer.compare(dc.readingPublicKey, factory.publicKey) === 0 &&
            !revokedSerials().has(dc.serialNumber.toLowerCase())
          )
            return {
              name: reviewed.name,
              certPem: pem,
              again: true,
              deviceId: reviewed.deviceId,
              readingPublicKey: dc.readingPublicKey,
            };
          throw new EnrolmentError(
            "already_registered",
            "The fleet already holds this device: it re-enrols with its fleet certificate.",
          );
        }
        const v = validity();
        issued = v.notAfter
          ? await (async () => {
              await certifyFactoryKey({ ca: o.ca, chain, pinned: o.manufacturerCa, csrPem });
              return o.ca.issueDeviceFromCsr(csrPem, { curve: "p256", ...v });
            })()
          : await certifyFactoryKey({ ca: o.ca, chain, pinned: o.manufacturerCa, csrPem });
      } catch (err) {
        if (err instanceof CertificateRequestError) throw new Refusal(400, err);
        if (err instanceof FactoryCertificateError || err instanceof EnrolmentError)
          throw new Refusal(403, err);
        throw err;
      }
      const dc = parseDeviceCertificate(issued.certPem);
      o.audit.append({
        action: "issued",
        device: issued.name,
        serial: dc.serialNumber,
        details: { zeroTouch: true, factorySerial: factory.serial },
      });
      keep(issued);
      return { ...issued, again: false };
    });
    // Asked again after a failed registration: registered now (the batcher leaves out a device
    // the registry holds already).
    if (batcher) {
      const dc = parseDeviceCertificate(cert.certPem);
      const b = await batcher.add({
        device: {
          deviceId: cert.deviceId,
          curve: "p256",
          readingPublicKey: cert.readingPublicKey,
          certPem: cert.certPem,
        },
        validFrom: Math.floor(dc.notBefore.getTime() / 1000),
      });
      if (b.deviceIds.includes(cert.deviceId))
        o.audit.append({
          action: "registered",
          device: cert.name,
          serial: dc.serialNumber,
          tx: b.hash,
          details: { block: Number(b.blockNumber), batch: b.deviceIds.length, zeroTouch: true },
        });
    }
    if (!cert.again) stats.enrolled++;
    log(`device ${cert.name} enrolled zero-touch${cert.again ? " (again)" : ""}`);
    return certsOnly([cert.certPem]);
  }

  /**
   * A rotation (or renewal) asked again with the certificate it replaced, its answer lost on the
   * way back: when the request is for the key the device's current certificate carries and the
   * replacement is at most ROTATION_REPEAT_S old, that certificate again (nothing issued, nothing
   * on-chain); otherwise refused as before (the old certificate no longer speaks for the device).
   */
  async function askedAgain(
    name: string,
    csrPem: string,
    currentPem: string,
    supersededAtMs: number,
  ): Promise<string> {
    const current = parseDeviceCertificate(currentPem);
    let reviewed: Awaited<ReturnType<typeof reviewDeviceCsr>> | undefined;
    try {
      reviewed = await reviewDeviceCsr(csrPem, {
        curve: current.curve,
        deviceId: deviceNameToId(name),
        expectedName: name,
      });
    } catch (err) {
      if (!(err instanceof CertificateRequestError)) throw err;
    }
    const recent = Date.now() - supersededAtMs <= ROTATION_REPEAT_S * 1000;
    if (!reviewed || Buffer.compare(reviewed.readingPublicKey, current.readingPublicKey) !== 0 || !recent)
      throw notCurrent(name);
    log(`device ${name} asked again with the certificate it replaced: the one issued then, again`);
    return certsOnly([currentPem]);
  }

  async function simpleReenroll(req: IncomingMessage, body: string): Promise<string> {
    const at = rotationTime(req); // a bad rotateAt is refused before anything is issued
    const { name, currentPem, superseded, supersededAtMs } = await fleetDevice(req, { superseded: true });
    const csrPem = estBodyToCsrPem(body);
    const current = parseDeviceCertificate(currentPem);
    if (superseded) return askedAgain(name, csrPem, currentPem, supersededAtMs);
    return oneAtATime(async () => {
      let reviewed: Awaited<ReturnType<typeof reviewDeviceCsr>>;
      try {
        reviewed = await reviewDeviceCsr(csrPem, {
          curve: current.curve,
          deviceId: deviceNameToId(name),
          expectedName: name,
        });
      } catch (err) {
        if (err instanceof CertificateRequestError) throw new Refusal(400, err);
        throw err;
      }
      const sameKey = Buffer.compare(reviewed.readingPublicKey, current.readingPublicKey) === 0;
      if (sameKey) {
        if (rotationQueued(o.dir, name))
          throw new Refusal(
            409,
            new EnrolmentError(
              "rotation_required",
              "The operator asked for a new key: send a request for a new key, not the current one.",
            ),
          );
        // Renewal: same key, new certificate; the registry's fingerprint follows it.
        const issued = await o.ca.issueDeviceFromCsr(csrPem, {
          curve: current.curve,
          deviceId: deviceNameToId(name),
          expectedName: name,
          ...validity(),
        });
        const serial = parseDeviceCertificate(issued.certPem).serialNumber;
        keep(issued, currentPem);
        await settle();
        let tx: string | undefined;
        if (o.registry) tx = (await rotateDevice(o.registry, issued, Math.floor(Date.now() / 1000))).hash;
        o.audit.append({
          action: "renewed",
          device: name,
          serial,
          ...(tx ? { tx } : {}),
          details: { previousSerial: current.serialNumber },
        });
        stats.renewed++;
        log(`device ${name} renewed: certificate ${serial}`);
        return certsOnly([issued.certPem]);
      }
      // A new key: the rotation the operator queued (or the device's own schedule), in force from
      // the time the device asks for (the moment it stopped signing with the old key), or now.
      // The registry takes no rotation time past the chain's time: a device clock slightly ahead waits.
      if (at !== undefined && at * 1000 > Date.now())
        await new Promise((r) => setTimeout(r, at * 1000 - Date.now() + 50));
      let rotated: Awaited<ReturnType<typeof rotateFromCsr>>;
      try {
        rotated = await rotateFromCsr({
          ca: o.ca,
          csrPem,
          name,
          currentCertPem: currentPem,
          ...(at === undefined ? {} : { at }),
          ...(o.registry ? { registry: o.registry } : {}),
          audit: o.audit,
          beforeChain: async (cert) => {
            keep(cert, currentPem);
            await settle();
          },
        });
      } catch (err) {
        if (err instanceof CertificateRequestError) throw new Refusal(400, err);
        throw err;
      }
      if (!o.registry) keep(rotated.cert, currentPem);
      dequeueRotation(o.dir, name);
      stats.rotated++;
      log(`device ${name} rotated to a new key: certificate ${rotated.serial}`);
      return certsOnly([rotated.cert.certPem]);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === EST_PATHS.cacerts) {
      res.writeHead(200, { "content-type": CERTS_ONLY_TYPE, "content-transfer-encoding": "base64" });
      res.end(certsOnly([o.settings.caChain]));
      return;
    }
    if (req.method === "GET" && path === EST_PATHS.instructions) {
      const { name } = await fleetDevice(req);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ deviceName: name, rotate: rotationQueued(o.dir, name) }));
      return;
    }
    if (req.method === "GET" && path === EST_PATHS.settings) {
      const { name, currentPem } = await fleetDevice(req);
      const dc = parseDeviceCertificate(currentPem);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(settingsBundle({ name, curve: dc.curve, certPem: currentPem }, o.settings)));
      return;
    }
    if (req.method === "POST" && (path === EST_PATHS.simpleenroll || path === EST_PATHS.simplereenroll)) {
      const body = await readBody(req);
      const out =
        path === EST_PATHS.simpleenroll ? await simpleEnroll(req, body) : await simpleReenroll(req, body);
      res.writeHead(200, { "content-type": CERTS_ONLY_TYPE, "content-transfer-encoding": "base64" });
      res.end(out);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not an EST path of this endpoint\n");
  }

  const server = createServer(
    {
      cert: o.tls.certPem,
      key: o.tls.keyPem,
      ca: [o.manufacturerCa, o.settings.caChain],
      requestCert: true,
      // Which CA a client certificate must chain to depends on the path: checked per request.
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        const refusal =
          err instanceof Refusal
            ? err
            : err instanceof SensorOracleError
              ? new Refusal(500, err)
              : new Refusal(500, new SensorOracleError("The enrolment endpoint failed.", { cause: err }));
        const e = refusal.error;
        const code = "code" in e ? String((e as { code: unknown }).code) : "failed";
        const tag = `${e.name}:${code}`;
        stats.refused[tag] = (stats.refused[tag] ?? 0) + 1;
        if (refusal.status < 500)
          o.audit.append({
            action: "enrolment_refused",
            details: { reason: tag, path: (req.url ?? "").split("?")[0] ?? "", zeroTouch: true },
          });
        log(
          `refused ${req.method} ${req.url}: ${tag}: ${e.shortMessage}${e.details ? ` (${e.details})` : ""}`,
        );
        if (!res.headersSent) res.writeHead(refusal.status, { "content-type": "text/plain" });
        res.end(`${tag}: ${e.shortMessage}\n`);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    stats,
    batcher,
    close: async () => {
      await batcher?.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
