// An OpenID4VP 1.0 verifier that is not ancre: @openid4vc/openid4vp builds the signed
// Request Object (by reference, `request_uri`) with a DCQL query for an SD-JWT VC and parses
// the wallet's response; @sd-jwt/core verifies the SD-JWT VC and its Key Binding JWT.
//
//   node verifier.mjs MODE VCT CLAIM[,CLAIM…]      MODE: direct_post | direct_post.jwt
//
// Serves plain http on 127.0.0.1 (a random port), prints one JSON line
// {"invocation": "openid4vp://…", "client_id": …, "nonce": …} on stdout, then waits for
// the wallet's response. Verified: prints {"result": "verified", "claims": {…}, …}, answers
// the wallet 200 {} and exits 0. Anything else: {"result": "failed", "error": …}, HTTP 400,
// exit 1. The issuer's key comes from its did:jwk (the only issuer DID method read here).
import { createHash, createPublicKey, createSign, createVerify, diffieHellman,
  createDecipheriv, generateKeyPairSync, randomBytes, verify } from "node:crypto";
import { createServer } from "node:http";

import { setGlobalConfig } from "@openid4vc/utils";
import { Openid4vpVerifier } from "@openid4vc/openid4vp";
import { SDJwtInstance } from "@sd-jwt/core";

const [mode, vct, claimList] = process.argv.slice(2);
if (!["direct_post", "direct_post.jwt"].includes(mode) || !vct || !claimList) {
  console.error("usage: node verifier.mjs direct_post|direct_post.jwt VCT CLAIM[,CLAIM…]");
  process.exit(64);
}
const requested = claimList.split(",");
// Loopback over plain http (the wallet runs with --insecure-loopback): the library wants
// https URLs unless told otherwise.
setGlobalConfig({ allowInsecureUrls: true });

const b64u = (data) => Buffer.from(data).toString("base64url");
const unb64u = (text) => Buffer.from(text, "base64url");
const json = (text) => JSON.parse(unb64u(text).toString("utf8"));

// ---- the verifier's own keys: a did:jwk signing key, an ephemeral encryption key ----
const signing = generateKeyPairSync("ec", { namedCurve: "P-256" });
const signingJwk = signing.publicKey.export({ format: "jwk" });
const verifierDid = `did:jwk:${b64u(JSON.stringify({ crv: "P-256", kty: "EC", x: signingJwk.x, y: signingJwk.y }))}`;
const clientId = `decentralized_identifier:${verifierDid}`;
const encryption = generateKeyPairSync("ec", { namedCurve: "P-256" });
const encryptionJwk = { ...encryption.publicKey.export({ format: "jwk" }), kid: "enc-1", use: "enc", alg: "ECDH-ES" };

function signEs256(header, payload) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const signature = createSign("SHA256").update(input).sign({ key: signing.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${b64u(signature)}`;
}

// ES256 (P-256) or EdDSA (Ed25519), by the key's type: the holders' keys are either.
function verifySignature(input, signature, jwk) {
  const key = createPublicKey({ key: jwk, format: "jwk" });
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return verify(null, Buffer.from(input), key, unb64u(signature));
  if (jwk.kty !== "EC" || jwk.crv !== "P-256") throw new Error(`unsupported key ${jwk.kty}/${jwk.crv}`);
  return createVerify("SHA256").update(input).verify({ key, dsaEncoding: "ieee-p1363" }, unb64u(signature));
}

// ECDH-ES (direct key agreement) + A128GCM/A256GCM, RFC 7518 §4.6: the Concat KDF by hand.
function decryptJwe(compact) {
  const [protectedB64, encryptedKey, iv, ciphertext, tag] = compact.split(".");
  const header = json(protectedB64);
  if (header.alg !== "ECDH-ES" || encryptedKey !== "") throw new Error(`unexpected JWE alg ${header.alg}`);
  const bits = { A128GCM: 128, A256GCM: 256 }[header.enc];
  if (!bits) throw new Error(`unexpected JWE enc ${header.enc}`);
  const epk = createPublicKey({ key: header.epk, format: "jwk" });
  const z = diffieHellman({ privateKey: encryption.privateKey, publicKey: epk });
  const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const lengthPrefixed = (buffer) => Buffer.concat([u32(buffer.length), buffer]);
  const otherInfo = Buffer.concat([
    lengthPrefixed(Buffer.from(header.enc)),
    lengthPrefixed(header.apu ? unb64u(header.apu) : Buffer.alloc(0)),
    lengthPrefixed(header.apv ? unb64u(header.apv) : Buffer.alloc(0)),
    u32(bits),
  ]);
  const key = createHash("sha256").update(u32(1)).update(z).update(otherInfo).digest().subarray(0, bits / 8);
  const decipher = createDecipheriv(`aes-${bits}-gcm`, key, unb64u(iv));
  decipher.setAAD(Buffer.from(protectedB64, "ascii"));
  decipher.setAuthTag(unb64u(tag));
  return Buffer.concat([decipher.update(unb64u(ciphertext)), decipher.final()]).toString("utf8");
}

const callbacks = {
  hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
  generateRandom: (bytes) => randomBytes(bytes),
  signJwt: async (signer, { header, payload }) => ({ jwt: signEs256(header, payload), signerJwk: signingJwk }),
  decryptJwe: async (jwe) => ({ decrypted: true, decryptionJwk: encryptionJwk, payload: decryptJwe(jwe) }),
  verifyJwt: async () => { throw new Error("no signed (JARM) responses expected"); },
};
const verifier = new Openid4vpVerifier({ callbacks });

function didJwkKey(kid) {
  if (typeof kid !== "string" || !kid.startsWith("did:jwk:")) throw new Error(`issuer kid ${kid} is not a did:jwk`);
  return json(kid.slice("did:jwk:".length).split("#")[0]);
}

const sdjwt = new SDJwtInstance({
  hasher: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
  // The issuer's signature: its key from the did:jwk in the JWS header's `kid`.
  verifier: (data, signature) => verifySignature(data, signature, didJwkKey(json(data.split(".")[0]).kid)),
  // The holder's Key Binding JWT: the key the issuer bound in `cnf.jwk`.
  kbVerifier: (data, signature, payload) => verifySignature(data, signature, payload.cnf.jwk),
});

const server = createServer(async (request, response) => {
  const url = new URL(request.url, "http://127.0.0.1");
  if (request.method === "GET" && url.pathname === "/request") {
    response.writeHead(200, { "content-type": "application/oauth-authz-req+jwt" });
    response.end(state.requestJwt);
    return;
  }
  if (request.method === "POST" && url.pathname === "/response") {
    let body = "";
    for await (const chunk of request) body += chunk;
    try {
      const result = await checkResponse(Object.fromEntries(new URLSearchParams(body)));
      response.writeHead(200, { "content-type": "application/json" });
      response.end("{}");
      console.log(JSON.stringify({ result: "verified", ...result }));
      server.close();
    } catch (error) {
      response.writeHead(400, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: "invalid_request", error_description: String(error.message || error) }));
      console.log(JSON.stringify({ result: "failed", error: String(error.message || error) }));
      server.close();
      process.exitCode = 1;
    }
    return;
  }
  response.writeHead(404);
  response.end();
});

async function checkResponse(form) {
  const parsed = await verifier.parseOpenid4vpAuthorizationResponse({
    authorizationResponse: form,
    authorizationRequestPayload: state.payload,
    callbacks,
  });
  if (parsed.type !== "dcql") throw new Error(`expected a DCQL response, got ${parsed.type}`);
  if (mode === "direct_post.jwt" && !form.response) throw new Error("the response was not encrypted");
  const presentations = parsed.dcql.presentations.membership;
  if (!Array.isArray(presentations) || presentations.length !== 1) throw new Error("one presentation for the query expected");
  const verified = await sdjwt.verify(presentations[0], {
    keyBindingNonce: state.payload.nonce,
    requiredClaimKeys: requested,
  });
  if (!verified.kb) throw new Error("no Key Binding JWT");
  if (verified.kb.payload.aud !== clientId) throw new Error(`KB-JWT aud ${verified.kb.payload.aud} is not ${clientId}`);
  if (verified.payload.vct !== vct) throw new Error(`vct ${verified.payload.vct}`);
  const claims = Object.fromEntries(Object.entries(verified.payload).filter(([k]) => !["_sd", "_sd_alg", "cnf", "iss", "iat", "exp", "nbf", "vct", "status"].includes(k)));
  return { claims, issuer: verified.payload.iss, kb_aud: verified.kb.payload.aud, encrypted: Boolean(form.response), raw_presentation: presentations[0] };
}

const state = {};
server.listen(0, "127.0.0.1", async () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  const payload = {
    response_type: "vp_token",
    client_id: clientId,
    response_mode: mode,
    response_uri: `${base}/response`,
    nonce: b64u(randomBytes(16)),
    state: b64u(randomBytes(12)),
    dcql_query: {
      credentials: [
        {
          id: "membership",
          format: "dc+sd-jwt",
          meta: { vct_values: [vct] },
          claims: requested.map((name) => ({ path: [name] })),
        },
      ],
    },
    client_metadata: {
      vp_formats_supported: { "dc+sd-jwt": { "sd-jwt_alg_values": ["ES256", "EdDSA"], "kb-jwt_alg_values": ["ES256", "EdDSA"] } },
      ...(mode === "direct_post.jwt" ? { jwks: { keys: [encryptionJwk] }, encrypted_response_enc_values_supported: ["A128GCM"] } : {}),
    },
  };
  const created = await verifier.createOpenId4vpAuthorizationRequest({
    authorizationRequestPayload: payload,
    jar: {
      requestUri: `${base}/request`,
      jwtSigner: { method: "did", didUrl: `${verifierDid}#0`, alg: "ES256" },
      additionalJwtPayload: { aud: "https://self-issued.me/v2" },
      expiresInSeconds: 300,
    },
  });
  state.payload = created.authorizationRequestPayload;
  state.requestJwt = created.jar.authorizationRequestJwt;
  console.log(JSON.stringify({ invocation: created.authorizationRequest, client_id: clientId, nonce: payload.nonce }));
});
