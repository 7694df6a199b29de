// An OpenID4VCI 1.0 credential issuer that is not ancre, for ancre's wallet tests: built on
// @openid4vc/openid4vci (Openid4vciIssuer) and @openid4vc/oauth2 (Oauth2AuthorizationServer),
// which write and check the protocol messages; this script only wires them to node:https on
// loopback and signs with node:crypto.
//
// - issuer and authorization server metadata (one configuration, `jwt_vc_json`, did:jwk
//   binding; one `dc+sd-jwt`, `jwk` binding; jwt key proofs in ES256/EdDSA), the token
//   endpoint (pre-authorized code with a tx_code), the nonce endpoint and the credential
//   endpoint;
// - `jwt_vc_json`: a W3C VCDM 2.0 `vc+jwt` (JOSE, the payload is the credential) signed
//   ES256 by the issuer's key, whose did:jwk is its `issuer`; the subject is the DID of the
//   key that signed the wallet's proof (did:jwk, resolved here);
// - `dc+sd-jwt`: an SD-JWT VC (`iss` the issuer's did:jwk, `cnf.jwk` the proof's key), every
//   claim selectively disclosable;
// - on start it prints one JSON line on stdout: {"url", "did", "offer_uri" (the jwt_vc_json
//   offer), "offers" (configuration → offer URI, one pre-authorized code each), "tx_code"}.
//   Every request is logged on stderr.
//
// usage: node issuer.mjs CERT.pem KEY.pem   (HTTPS on 127.0.0.1, a free port, known as
// https://localhost:PORT: the library takes https URLs only)
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { Openid4vciIssuer } from "@openid4vc/openid4vci";
import { Oauth2AuthorizationServer, clientAuthenticationNone } from "@openid4vc/oauth2";

const PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
const CONFIGURATION = "OrganizationCredential";
const SD_JWT_CONFIGURATION = "OrganizationSdJwt";
const VCT = "urn:example:organization:1";
const TX_CODE = "493536";
const MAX_BODY = 64 * 1024;

const b64url = (data) => Buffer.from(data).toString("base64url");
const { privateKey: issuerKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const issuerJwk = publicKey.export({ format: "jwk" });
const issuerDid = `did:jwk:${b64url(JSON.stringify({ crv: issuerJwk.crv, kty: issuerJwk.kty, x: issuerJwk.x, y: issuerJwk.y }))}`;

function jwkOfDidUrl(didUrl) {
  const did = didUrl.split("#")[0];
  if (!did.startsWith("did:jwk:")) throw new Error(`this issuer resolves did:jwk only, not ${did}`);
  return JSON.parse(Buffer.from(did.slice("did:jwk:".length), "base64url").toString("utf8"));
}

function signCompact(header, payload) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = sign("sha256", Buffer.from(input), { key: issuerKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${b64url(signature)}`;
}

const callbacks = {
  hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
  generateRandom: (length) => randomBytes(length),
  clientAuthentication: clientAuthenticationNone({ clientId: "any" }),
  signJwt: async (signer, { header, payload }) => {
    if (signer.method !== "jwk" || signer.alg !== "ES256" || signer.publicJwk.x !== issuerJwk.x) {
      throw new Error(`this issuer signs with its own ES256 key only, not ${signer.method}`);
    }
    return { jwt: signCompact(header, payload), signerJwk: issuerJwk };
  },
  // Key proofs name their key by `jwk` or by a did:jwk `kid`; ES256 and EdDSA.
  verifyJwt: async (signer, { header, compact }) => {
    const jwk = signer.method === "jwk" ? signer.publicJwk : signer.method === "did" ? jwkOfDidUrl(signer.didUrl) : null;
    if (!jwk) return { verified: false };
    const [h, p, s] = compact.split(".");
    const key = createPublicKey({ key: jwk, format: "jwk" });
    const algorithm = header.alg === "ES256" ? "sha256" : header.alg === "EdDSA" || header.alg === "Ed25519" ? null : undefined;
    if (algorithm === undefined) return { verified: false };
    const ok = verify(algorithm, Buffer.from(`${h}.${p}`), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(s, "base64url"));
    return ok ? { verified: true, signerJwk: jwk } : { verified: false };
  },
};

const issuer = new Openid4vciIssuer({ callbacks });
const authorizationServer = new Oauth2AuthorizationServer({ callbacks });

const [certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile) {
  console.error("usage: node issuer.mjs CERT.pem KEY.pem");
  process.exit(64);
}
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `https://localhost:${server.address().port}`;

const credentialIssuer = issuer.createCredentialIssuerMetadata({
  credential_issuer: url,
  authorization_servers: [url],
  credential_endpoint: `${url}/credential`,
  nonce_endpoint: `${url}/nonce`,
  display: [{ name: "Interop issuer (not ancre)", locale: "en" }],
  credential_configurations_supported: {
    [CONFIGURATION]: {
      format: "jwt_vc_json",
      credential_definition: { type: ["VerifiableCredential", CONFIGURATION] },
      cryptographic_binding_methods_supported: ["did:jwk"],
      credential_signing_alg_values_supported: ["ES256"],
      proof_types_supported: { jwt: { proof_signing_alg_values_supported: ["ES256", "EdDSA"] } },
    },
    [SD_JWT_CONFIGURATION]: {
      format: "dc+sd-jwt",
      vct: VCT,
      cryptographic_binding_methods_supported: ["jwk"],
      credential_signing_alg_values_supported: ["ES256"],
      proof_types_supported: { jwt: { proof_signing_alg_values_supported: ["ES256", "EdDSA"] } },
    },
  },
});
const authorizationServerMetadata = authorizationServer.createAuthorizationServerMetadata({
  issuer: url,
  token_endpoint: `${url}/token`,
  "pre-authorized_grant_anonymous_access_supported": true,
});
const issuerMetadata = {
  originalDraftVersion: "V1",
  credentialIssuer,
  authorizationServers: [authorizationServerMetadata],
  knownCredentialConfigurations: credentialIssuer.credential_configurations_supported,
};

const codes = new Map(); // pre-authorized code → configuration
const accessTokens = new Map(); // access token → configuration
const nonces = new Map(); // c_nonce → expiry (ms)
const offers = {};
for (const configuration of [CONFIGURATION, SD_JWT_CONFIGURATION]) {
  const code = b64url(randomBytes(24));
  codes.set(code, configuration);
  const { credentialOffer } = await issuer.createCredentialOffer({
    issuerMetadata,
    credentialConfigurationIds: [configuration],
    grants: {
      [PRE_AUTHORIZED]: {
        "pre-authorized_code": code,
        tx_code: { input_mode: "numeric", length: TX_CODE.length },
      },
    },
  });
  offers[configuration] = credentialOffer;
}

function send(response, status, body, headers = {}) {
  const text = body === undefined ? "" : JSON.stringify(body);
  response.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers });
  response.end(text);
}

async function readBody(request) {
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > MAX_BODY) throw Object.assign(new Error("body too large"), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function requestLike(request) {
  return { method: request.method, url: `${url}${request.url}`, headers: new Headers(request.headers) };
}

async function token(request, response) {
  const form = Object.fromEntries(new URLSearchParams(await readBody(request)));
  const parsed = authorizationServer.parseAccessTokenRequest({ request: requestLike(request), accessTokenRequest: form });
  if (parsed.grant.grantType !== PRE_AUTHORIZED) {
    return send(response, 400, { error: "unsupported_grant_type" });
  }
  const configuration = codes.get(parsed.grant.preAuthorizedCode);
  if (!configuration) return send(response, 400, { error: "invalid_grant" });
  await authorizationServer.verifyPreAuthorizedCodeAccessTokenRequest({
    grant: parsed.grant,
    accessTokenRequest: parsed.accessTokenRequest,
    request: requestLike(request),
    expectedPreAuthorizedCode: parsed.grant.preAuthorizedCode,
    expectedTxCode: TX_CODE,
    authorizationServerMetadata,
  });
  const answer = await authorizationServer.createAccessTokenResponse({
    audience: url,
    authorizationServer: url,
    expiresInSeconds: 300,
    subject: parsed.grant.preAuthorizedCode,
    signer: { method: "jwk", alg: "ES256", publicJwk: issuerJwk },
  });
  codes.delete(parsed.grant.preAuthorizedCode); // single use
  accessTokens.set(answer.access_token, configuration);
  send(response, 200, answer);
}

async function nonce(request, response) {
  const cNonce = b64url(randomBytes(16));
  nonces.set(cNonce, Date.now() + 300_000);
  send(response, 200, issuer.createNonceResponse({ cNonce, cNonceExpiresIn: 300 }));
}

async function credential(request, response) {
  const bearer = (request.headers.authorization ?? "").replace(/^Bearer /, "");
  const granted = accessTokens.get(bearer);
  if (!granted) {
    return send(response, 401, { error: "invalid_token" }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
  }
  const parsed = issuer.parseCredentialRequest({ issuerMetadata, credentialRequest: JSON.parse(await readBody(request)) });
  const proofs = parsed.proofs?.jwt ?? [];
  if (parsed.credentialConfigurationId !== granted || proofs.length !== 1) {
    return send(response, 400, { error: "invalid_credential_request" });
  }
  const { signer, payload } = await issuer.verifyCredentialRequestJwtProof({ issuerMetadata, jwt: proofs[0] });
  const expiry = nonces.get(payload.nonce);
  nonces.delete(payload.nonce);
  if (!expiry || expiry < Date.now()) return send(response, 400, { error: "invalid_nonce" });
  if (signer.method !== "did" && signer.method !== "jwk") return send(response, 400, { error: "invalid_proof" });
  accessTokens.delete(bearer);
  const claims = { name: "ACME Data Services", country: "FR" };
  let compact;
  if (granted === CONFIGURATION) {
    if (signer.method !== "did") return send(response, 400, { error: "invalid_proof" });
    const vc = {
      "@context": ["https://www.w3.org/ns/credentials/v2"],
      type: ["VerifiableCredential", CONFIGURATION],
      issuer: issuerDid,
      validFrom: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      credentialSubject: { id: signer.didUrl.split("#")[0], ...claims },
    };
    compact = signCompact({ alg: "ES256", typ: "vc+jwt", kid: `${issuerDid}#0` }, vc);
  } else {
    const holderJwk = signer.method === "jwk" ? signer.publicJwk : jwkOfDidUrl(signer.didUrl);
    const disclosures = Object.entries(claims).map(([name, value]) => b64url(JSON.stringify([b64url(randomBytes(16)), name, value])));
    const sdJwt = signCompact(
      { alg: "ES256", typ: "dc+sd-jwt", kid: `${issuerDid}#0` },
      {
        iss: issuerDid,
        iat: Math.floor(Date.now() / 1000),
        vct: VCT,
        cnf: { jwk: holderJwk },
        _sd_alg: "sha-256",
        _sd: disclosures.map((d) => createHash("sha256").update(d).digest("base64url")),
      },
    );
    compact = `${sdJwt}~${disclosures.join("~")}~`;
  }
  send(response, 200, issuer.createCredentialResponse({ credentialRequest: parsed, credentials: [{ credential: compact }] }));
}

const routes = {
  "GET /.well-known/openid-credential-issuer": (_, response) => send(response, 200, credentialIssuer),
  "GET /.well-known/oauth-authorization-server": (_, response) => send(response, 200, authorizationServerMetadata),
  "POST /token": token,
  "POST /nonce": nonce,
  "POST /credential": credential,
};

server.on("request", async (request, response) => {
  const route = routes[`${request.method} ${request.url.split("?")[0]}`];
  console.error(`${request.method} ${request.url}`);
  try {
    if (!route) return send(response, 404, { error: "not_found" });
    await route(request, response);
  } catch (error) {
    console.error(error);
    const status = error.status ?? 400;
    send(response, status, { error: error.errorResponse?.error ?? "invalid_request", error_description: String(error.message).slice(0, 300) });
  }
});

console.log(JSON.stringify({ url, did: issuerDid, offer_uri: offers[CONFIGURATION], offers, tx_code: TX_CODE }));
