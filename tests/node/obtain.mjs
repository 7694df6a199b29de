// An independent OpenID4VCI 1.0 wallet for ancre's issuer tests, built on
// @openid4vc/openid4vci and @openid4vc/oauth2 (ancre did not write them). It resolves the
// offer and the issuer's metadata, takes the grant the offer carries, gets a c_nonce, sends
// one jwt key proof per holder key and prints
//   {"credential", "holder_jwk", "credentials", "holder_jwks", "configuration_id", "grant",
//    "code_challenge_method", "waiting_reloads", "notification_id", "notified", "deferred"}
// as JSON on stdout ("credential" and "holder_jwk": the first of each list).
//
// - pre-authorized code grant: the offer's pre-authorized_code with TX_CODE;
// - authorization code grant (offer with an issuer_state): the library builds the
//   authorization request (PKCE from the AS metadata, state, scope, issuer_state), this
//   script plays a browser without script — it keeps cookies, follows redirects within the
//   issuer and reloads a waiting page (ancre's operator approval) until it is redirected to
//   REDIRECT_URI — the library parses that redirect (checking RFC 9207 `iss`), and
//   exchanges the code with its PKCE verifier. A step that decides without a page (ancre's
//   StaticAuthentication) redirects at once; "waiting_reloads" counts the waiting pages.
//
// - batch issuance (--keys N): N holder keys, N proofs sharing one c_nonce, in one request
//   (the library checks N against the issuer's batch_credential_issuance.batch_size);
// - deferred issuance: on a 202 with a transaction_id, the library polls the deferred
//   credential endpoint every `interval` seconds until the credentials come (at most
//   MAX_POLLS times); "deferred" reports the transaction id and the number of polls;
// - notification (--notify): the library reports credential_accepted with the response's
//   notification_id, when it carries one.
//
// usage: node obtain.mjs OFFER_URI [TX_CODE] [--keys N] [--notify]
// (trust a test CA with NODE_EXTRA_CA_CERTS=ca.pem)
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import {
  Openid4vciClient,
  determineAuthorizationServerForCredentialOffer,
  extractScopesForCredentialConfigurationIds,
} from "@openid4vc/openid4vci";
import {
  Oauth2Client,
  clientAuthenticationDynamic,
  getAuthorizationServerMetadataFromList,
} from "@openid4vc/oauth2";

const PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
const AUTHORIZATION_CODE = "authorization_code";
// A public client without registration (OpenID4VCI §5.1): any client_id, and a redirect URI
// it would own. Nothing listens there: the redirect is read, not followed.
const CLIENT_ID = "npm-openid4vci-wallet";
const REDIRECT_URI = "https://wallet.example/openid4vci/callback";

const MAX_POLLS = 60;
const MAX_BROWSER_STEPS = 60;
let waited = 0; // reloads of a waiting page
const positional = [];
const options = { keys: 1, notify: false };
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  if (arg === "--keys") options.keys = Number(process.argv[++i]);
  else if (arg === "--notify") options.notify = true;
  else positional.push(arg);
}
const [offerUri, txCode] = positional;
if (!offerUri || !(options.keys >= 1)) {
  console.error("usage: node obtain.mjs OFFER_URI [TX_CODE] [--keys N] [--notify]");
  process.exit(64);
}

const b64url = (data) => Buffer.from(data).toString("base64url");
// One P-256 key per credential; the signing callback finds the private key by its JWK.
const holders = Array.from({ length: options.keys }, () => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { privateKey, jwk: publicKey.export({ format: "jwk" }) };
});

const callbacks = {
  fetch: globalThis.fetch,
  hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
  generateRandom: (length) => randomBytes(length),
  // From the AS metadata: anonymous for the pre-authorized code when the issuer allows it,
  // else its token_endpoint_auth_methods_supported ("none": send client_id).
  clientAuthentication: clientAuthenticationDynamic({ clientId: CLIENT_ID }),
  signJwt: async (signer, { header, payload }) => {
    const holder = holders.find((h) => h.jwk.x === signer.publicJwk?.x && h.jwk.y === signer.publicJwk?.y);
    if (signer.method !== "jwk" || signer.alg !== "ES256" || !holder) {
      throw new Error(`this wallet signs with its own ES256 jwks, not ${signer.method}/${signer.alg}`);
    }
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const key = holder.privateKey;
    const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    return { jwt: `${input}.${b64url(signature)}`, signerJwk: holder.jwk };
  },
};

const client = new Openid4vciClient({ callbacks });
const offer = await client.resolveCredentialOffer(offerUri);
const issuerMetadata = await client.resolveIssuerMetadata(offer.credential_issuer);
const configurationId = offer.credential_configuration_ids[0];

async function preAuthorizedAccessToken() {
  const { accessTokenResponse } = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer: offer,
    issuerMetadata,
    txCode,
  });
  return { accessToken: accessTokenResponse.access_token, codeChallengeMethod: null };
}

// A browser without script: it keeps the issuer's cookies, follows redirects within the
// issuer, and reloads a waiting page (operator approval: <meta http-equiv="refresh">) until
// it is redirected to REDIRECT_URI, whose Location it returns.
async function playBrowser(startUrl) {
  const cookies = new Map();
  let url = startUrl;
  for (let step = 0; step < MAX_BROWSER_STEPS; step++) {
    const cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    const page = await fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
    for (const set of page.headers.getSetCookie()) {
      const [pair] = set.split(";");
      const at = pair.indexOf("=");
      cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    const location = page.headers.get("location");
    if (page.status >= 300 && page.status <= 399 && location) {
      const next = new URL(location, url).href;
      if (next.startsWith(`${REDIRECT_URI}?`)) return next;
      if (new URL(next).origin !== new URL(startUrl).origin) {
        throw new Error(`redirected elsewhere than the wallet: ${next}`);
      }
      url = next;
      continue;
    }
    const body = await page.text();
    const refresh = /<meta http-equiv="refresh" content="(\d+)/.exec(body);
    if (page.status !== 200 || !refresh) {
      throw new Error(`the authorization endpoint answered ${page.status}: ${body}`);
    }
    waited += 1;
    await new Promise((resolve) => setTimeout(resolve, Number(refresh[1]) * 1000));
  }
  throw new Error(`no redirect to the wallet after ${MAX_BROWSER_STEPS} pages`);
}

async function authorizationCodeAccessToken() {
  const grant = offer.grants[AUTHORIZATION_CODE];
  const authorizationServerMetadata = getAuthorizationServerMetadataFromList(
    issuerMetadata.authorizationServers,
    determineAuthorizationServerForCredentialOffer({
      issuerMetadata,
      grantAuthorizationServer: grant.authorization_server,
    }),
  );
  // Openid4vciClient.initiateAuthorization (0.4.6) does not pass a `state` on, so this is
  // the Oauth2Client call it wraps, with the issuer_state and resource it would add.
  const state = b64url(randomBytes(16));
  const scopes = extractScopesForCredentialConfigurationIds({
    credentialConfigurationIds: [configurationId],
    issuerMetadata,
  });
  const { authorizationRequestUrl, pkce } = await new Oauth2Client({ callbacks }).initiateAuthorization({
    authorizationServerMetadata,
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    scope: scopes?.join(" "),
    state,
    resource: issuerMetadata.credentialIssuer.credential_issuer,
    additionalRequestPayload: { issuer_state: grant.issuer_state },
  });
  if (!pkce) {
    throw new Error("the authorization server advertises no code_challenge_methods_supported");
  }

  // The browser's part, left to the application: open the authorization URL and come back
  // on the redirect to REDIRECT_URI.
  const location = await playBrowser(authorizationRequestUrl);
  const response = client.parseAndVerifyAuthorizationResponseRedirectUrl({
    url: location,
    authorizationServerMetadata,
  });
  if (response.state !== state) {
    throw new Error(`the authorization response carries state ${response.state}, not ${state}`);
  }
  if (response.error) {
    throw new Error(`authorization refused: ${response.error} ${response.error_description ?? ""}`);
  }
  const { accessTokenResponse } = await client.retrieveAuthorizationCodeAccessTokenFromOffer({
    credentialOffer: offer,
    issuerMetadata,
    authorizationCode: response.code,
    pkceCodeVerifier: pkce.codeVerifier,
    redirectUri: REDIRECT_URI,
  });
  return {
    accessToken: accessTokenResponse.access_token,
    codeChallengeMethod: pkce.codeChallengeMethod,
  };
}

let grant;
if (offer.grants?.[PRE_AUTHORIZED]) {
  grant = PRE_AUTHORIZED;
} else if (offer.grants?.[AUTHORIZATION_CODE]) {
  grant = AUTHORIZATION_CODE;
} else {
  throw new Error(`the offer carries no grant this wallet takes: ${JSON.stringify(offer.grants)}`);
}
const { accessToken, codeChallengeMethod } =
  grant === PRE_AUTHORIZED ? await preAuthorizedAccessToken() : await authorizationCodeAccessToken();

const { c_nonce: nonce } = await client.requestNonce({ issuerMetadata });
const jwts = [];
for (const holder of holders) {
  const { jwt } = await client.createCredentialRequestJwtProof({
    issuerMetadata,
    credentialConfigurationId: configurationId,
    nonce,
    signer: { method: "jwk", alg: "ES256", publicJwk: holder.jwk },
  });
  jwts.push(jwt);
}
let response;
try {
  response = await client.retrieveCredentials({
    issuerMetadata,
    accessToken,
    credentialConfigurationId: configurationId,
    proofs: { jwt: jwts },
  });
} catch (error) {
  console.error(error.message, error.response ? await error.response.response.text() : "");
  process.exit(1);
}
let { credentials, notification_id: notificationId } = response.credentialResponse;
let deferred = null;
const transactionId = response.credentialResponse.transaction_id;
if (transactionId) {
  // Held for the issuer's approval: poll, as told, until the credentials come.
  deferred = { transaction_id: transactionId, interval: response.credentialResponse.interval, polls: 0 };
  let interval = deferred.interval;
  while (!credentials) {
    if (deferred.polls >= MAX_POLLS) throw new Error(`still pending after ${MAX_POLLS} polls`);
    await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    const polled = await client.retrieveDeferredCredentials({ issuerMetadata, accessToken, transactionId });
    deferred.polls += 1;
    ({ credentials, notification_id: notificationId } = polled.deferredCredentialResponse);
    interval = polled.deferredCredentialResponse.interval ?? interval;
  }
}
let notified = false;
if (options.notify && notificationId) {
  await client.sendNotification({
    issuerMetadata,
    accessToken,
    notification: { notificationId, event: "credential_accepted" },
  });
  notified = true;
}
const issued = credentials.map((c) => (typeof c === "string" ? c : c.credential));
process.stdout.write(
  JSON.stringify({
    credential: issued[0],
    holder_jwk: holders[0].jwk,
    credentials: issued,
    holder_jwks: holders.map((h) => h.jwk),
    configuration_id: configurationId,
    grant,
    code_challenge_method: codeChallengeMethod,
    waiting_reloads: waited,
    notification_id: notificationId ?? null,
    notified,
    deferred,
  }) + "\n",
);
