// The console's certificate: the one the configuration names (PEM files), or a self-signed one made at
// each start for localhost and 127.0.0.1 with OpenSSL (an ECDSA P-256 key that never leaves memory once
// read; its fingerprint is printed so a browser's warning can be checked against it).
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError, UnavailableError } from "../core/errors.ts";
import { readInputFile } from "../core/input-file.ts";
import type { ConsoleConfig } from "./config.ts";

export interface ServerCertificate {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint, colon-separated hex, as browsers show it. */
  fingerprint: string;
}

const MAX_PEM = 1024 * 1024;

export function serverCertificate(tls: ConsoleConfig["tls"]): ServerCertificate {
  if ("certFile" in tls) {
    const cert = readInputFile(tls.certFile, "the console's certificate", MAX_PEM);
    const key = readInputFile(tls.keyFile, "the console's private key", MAX_PEM);
    return { cert, key, fingerprint: fingerprintOf(cert, tls.certFile) };
  }
  return generateLocalhostCertificate();
}

function fingerprintOf(cert: Buffer, file: string): string {
  try {
    return new X509Certificate(cert).fingerprint256;
  } catch (e) {
    throw new InputError(`${file}: not a PEM certificate (${(e as Error).message})`);
  }
}

function generateLocalhostCertificate(): ServerCertificate {
  const dir = mkdtempSync(join(tmpdir(), "vigil-console-tls-"));
  try {
    const keyFile = join(dir, "key.pem");
    const certFile = join(dir, "cert.pem");
    const r = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
        "-keyout",
        keyFile,
        "-out",
        certFile,
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (r.error || r.status !== 0)
      throw new UnavailableError(`openssl could not make a certificate for localhost: ${r.error?.message ?? r.stderr.trim()}`);
    const cert = readInputFile(certFile, "the generated certificate", MAX_PEM);
    return { cert, key: readInputFile(keyFile, "the generated key", MAX_PEM), fingerprint: fingerprintOf(cert, certFile) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
