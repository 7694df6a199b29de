// An independent OpenID4VCI 1.0 wallet for ancre's issuer tests, built on
// @openid4vc/openid4vci (ancre did not write it): resolve the offer, take the
// pre-authorized code grant with its tx_code, get a c_nonce, send a jwt key proof,
// print {"credential", "holder_jwk", "configuration_id"} as JSON on stdout.
//
// usage: node obtain.mjs OFFER_URI [TX_CODE]
// (trust a test CA with NODE_EXTRA_CA_CERTS=ca.pem)
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { Openid4vciClient } from "@openid4vc/openid4vci";
import { clientAuthenticationAnonymous } from "@openid4vc/oauth2";

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
  clientAuthentication: clientAuthenticationAnonymous(),
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
const { accessTokenResponse } = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
  credentialOffer: offer,
  issuerMetadata,
  txCode,
});
const configurationId = offer.credential_configuration_ids[0];
const { c_nonce: nonce } = await client.requestNonce({ issuerMetadata });
const { jwt } = await client.createCredentialRequestJwtProof({
  issuerMetadata,
  credentialConfigurationId: configurationId,
  nonce,
  signer: { method: "jwk", alg: "ES256", publicJwk: holderJwk },
});
const response = await client.retrieveCredentials({
  issuerMetadata,
  accessToken: accessTokenResponse.access_token,
  credentialConfigurationId: configurationId,
  proofs: { jwt: [jwt] },
});
if (!response.ok) {
  console.error(JSON.stringify(response.credentialErrorResponseResult ?? response, null, 2));
  process.exit(1);
}
const credential = response.credentialResponse.credentials[0].credential;
process.stdout.write(
  JSON.stringify({ credential, holder_jwk: holderJwk, configuration_id: configurationId }) + "\n",
);
