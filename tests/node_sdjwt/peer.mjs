// An independent SD-JWT implementation (the OpenWallet Foundation's @sd-jwt/core) facing
// ancre's vc+sd-jwt (W3C VC-JOSE-COSE §3.2). Reads one JSON request on stdin, writes one
// JSON answer on stdout:
//   {"op": "sign", "payload": {...}, "frame": {...}, "jwk": <private ES256 JWK>, "kid": "..."}
//     -> {"token": "<issuer JWT>~<disclosures>~"}
//   {"op": "verify", "token": "...", "jwk": <public ES256 JWK>}
//     -> {"header": {...}, "payload": {... disclosed ...}}  or  {"error": "..."}
import { SDJwtInstance } from '@sd-jwt/core';
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
  return { error: `unknown op ${request.op}` };
}

process.stdout.write(JSON.stringify(await main()));
