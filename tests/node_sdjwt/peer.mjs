// An independent SD-JWT implementation (the OpenWallet Foundation's @sd-jwt/core) facing
// ancre's vc+sd-jwt (W3C VC-JOSE-COSE §3.2). Reads one JSON request on stdin, writes one
// JSON answer on stdout:
//   {"op": "sign", "payload": {...}, "frame": {...}, "jwk": <private ES256 JWK>, "kid": "..."}
//     -> {"token": "<issuer JWT>~<disclosures>~"}
//   {"op": "verify", "token": "...", "jwk": <public ES256 JWK>}
//     -> {"header": {...}, "payload": {... disclosed ...}}  or  {"error": "..."}
//   {"op": "cose-sign", "payload": "<JSON text>", "jwk": <private ES256 JWK>, "kid": "..."}
//     -> {"cose": "<base64 of a tagged COSE_Sign1>"}   (@transmute/cose, VC-JOSE-COSE §3.3)
//   {"op": "cose-verify", "cose": "<base64>", "jwk": <public ES256 JWK>}
//     -> {"payload": "<JSON text>"}  or  {"error": "..."}
import { SDJwtInstance } from '@sd-jwt/core';
import * as cose from '@transmute/cose';
import { ES256, digest, generateSalt } from '@sd-jwt/crypto-nodejs';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));

async function main() {
  if (request.op === 'sign') {
    const sdjwt = new SDJwtInstance({
      signer: await ES256.getSigner(request.jwk),
      signAlg: 'ES256',
      hasher: digest,
      hashAlg: 'sha-256',
      saltGenerator: generateSalt,
    });
    const token = await sdjwt.issue(request.payload, request.frame, {
      header: { typ: 'vc+sd-jwt', cty: 'vc', kid: request.kid },
    });
    return { token };
  }
  if (request.op === 'verify') {
    const sdjwt = new SDJwtInstance({
      verifier: await ES256.getVerifier(request.jwk),
      signAlg: 'ES256',
      hasher: digest,
      hashAlg: 'sha-256',
    });
    try {
      const { header, payload } = await sdjwt.verify(request.token);
      return { header, payload };
    } catch (error) {
      return { error: String(error && error.message ? error.message : error) };
    }
  }
  if (request.op === 'cose-sign') {
    // Protected: alg ES256 (1: -7), content type application/vc (3), kid as bytes (4).
    const signer = cose.attached.signer({
      remote: cose.crypto.signer({ privateKeyJwk: { ...request.jwk, alg: 'ES256' } }),
    });
    const data = await signer.sign({
      protectedHeader: cose.ProtectedHeader([
        [cose.Protected.Alg, cose.Signature.ES256],
        [cose.Protected.ContentType, 'application/vc'],
        [cose.Protected.Kid, Buffer.from(request.kid, 'utf8')],
      ]),
      unprotectedHeader: new Map(),
      payload: Buffer.from(request.payload, 'utf8'),
    });
    return { cose: Buffer.from(data).toString('base64') };
  }
  if (request.op === 'cose-verify') {
    const publicKeyJwk = { kty: 'EC', crv: 'P-256', x: request.jwk.x, y: request.jwk.y, alg: 'ES256' };
    const verifier = cose.attached.verifier({ resolver: { resolve: async () => publicKeyJwk } });
    try {
      const payload = await verifier.verify({ coseSign1: Buffer.from(request.cose, 'base64') });
      return { payload: Buffer.from(payload).toString('utf8') };
    } catch (error) {
      return { error: String(error && error.message ? error.message : error) };
    }
  }
  return { error: `unknown op ${request.op}` };
}

process.stdout.write(JSON.stringify(await main()));
