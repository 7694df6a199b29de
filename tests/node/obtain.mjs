// An independent OpenID4VCI 1.0 wallet for ancre's issuer tests, built on
// @openid4vc/openid4vci and @openid4vc/oauth2 (ancre did not write them). It resolves the
// offer and the issuer's metadata, takes the grant the offer carries, gets a c_nonce, sends
// a jwt key proof and prints
//   {"credential", "holder_jwk", "configuration_id", "grant", "code_challenge_method"}
// as JSON on stdout.
//
// - pre-authorized code grant: the offer's pre-authorized_code with TX_CODE;
// - authorization code grant (offer with an issuer_state): the library builds the
//   authorization request (PKCE from the AS metadata, state, scope, issuer_state), this
//   script plays the browser — one GET of the authorization URL without following the
//   redirect — the library parses the redirect to REDIRECT_URI (checking RFC 9207 `iss`),
//   and exchanges the code with its PKCE verifier. Only an issuer whose user-authentication
//   step decides without a page (ancre's StaticAuthentication) can be driven this way.
//
// usage: node obtain.mjs OFFER_URI [TX_CODE]
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

const [offerUri, txCode] = process.argv.slice(2);
if (!offerUri) {
  console.error("usage: node obtain.mjs OFFER_URI [TX_CODE]");
  process.exit(64);
}

const b64url = (data) => Buffer.from(data).toString("base64url");
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const holderJwk = publicKey.export({ format: "jwk" });

const callbacks = {
  fetch: globalThis.fetch,
  hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
  generateRandom: (length) => randomBytes(length),
  // From the AS metadata: anonymous for the pre-authorized code when the issuer allows it,
  // else its token_endpoint_auth_methods_supported ("none": send client_id).
  clientAuthentication: clientAuthenticationDynamic({ clientId: CLIENT_ID }),
  signJwt: async (signer, { header, payload }) => {
    if (signer.method !== "jwk" || signer.alg !== "ES256") {
      throw new Error(`this wallet signs with its own ES256 jwk, not ${signer.method}/${signer.alg}`);
    }
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    const signature = sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
    return { jwt: `${input}.${b64url(signature)}`, signerJwk: holderJwk };
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
  const browser = await fetch(authorizationRequestUrl, { redirect: "manual" });
  const location = browser.headers.get("location");
  if (browser.status < 300 || browser.status > 399 || !location) {
    throw new Error(`the authorization endpoint answered ${browser.status}: ${await browser.text()}`);
  }
  if (!location.startsWith(`${REDIRECT_URI}?`)) {
    throw new Error(`redirected elsewhere than the wallet: ${location}`);
  }
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
const { jwt } = await client.createCredentialRequestJwtProof({
  issuerMetadata,
  credentialConfigurationId: configurationId,
  nonce,
  signer: { method: "jwk", alg: "ES256", publicJwk: holderJwk },
});
const response = await client.retrieveCredentials({
  issuerMetadata,
  accessToken,
  credentialConfigurationId: configurationId,
  proofs: { jwt: [jwt] },
});
if (!response.ok) {
  console.error(JSON.stringify(response.credentialErrorResponseResult ?? response, null, 2));
  process.exit(1);
}
const credential = response.credentialResponse.credentials[0].credential;
process.stdout.write(
  JSON.stringify({
    credential,
    holder_jwk: holderJwk,
    configuration_id: configurationId,
    grant,
    code_challenge_method: codeChallengeMethod,
  }) + "\n",
);
