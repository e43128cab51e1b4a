// The webhook's certificates are read by OpenSSL (Node) and by the API server's Go parser, both of which
// refuse a DER INTEGER with a leading zero byte: the serial number must be minimal and positive whatever
// random bytes it is drawn from (one draw in 256 used to start 0x00 0x0X and made an unparsable certificate).
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { certificateSerial, issueCa, issueServing } from "../src/admission/certificates.ts";

test("a serial number is positive and minimal DER for the random bytes that used to break it", () => {
  for (const first of [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xff]) {
    for (const second of [0x00, 0x7f, 0x80, 0xff]) {
      const random = Buffer.alloc(16, 0);
      random[0] = first;
      random[1] = second;
      const serial = certificateSerial(random);
      assert.equal(serial.length, 16);
      assert.ok(serial[0]! >= 0x40 && serial[0]! <= 0x7f, `first byte ${serial[0]!.toString(16)} for ${first.toString(16)}`);
    }
  }
});

test("a CA and its serving certificate parse with OpenSSL, chain, and carry a 16-byte positive serial", async () => {
  const ca = await issueCa("vigil-admission-ca", 3_600_000);
  const serving = await issueServing(ca, { dns: ["vigil-admission.vigil.svc"], ips: ["127.0.0.1"] }, 3_600_000);
  const caCert = new X509Certificate(ca.certPem);
  const cert = new X509Certificate(serving.certPem);
  assert.ok(cert.verify(caCert.publicKey));
  assert.match(cert.serialNumber, /^[4-7][0-9A-F]{31}$/);
  // The encoding itself: the serial written for zero bytes is a 16-byte positive INTEGER (no padding).
  assert.equal(certificateSerial(Buffer.alloc(16, 0)).toString("hex"), `40${"00".repeat(15)}`);
});
