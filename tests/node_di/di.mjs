// Digital Bazaar's Data Integrity stack as an independent peer for ancre's tests.
// Reads one JSON request on stdin, writes one JSON answer on stdout:
//   {"op": "issue", "suite": "eddsa-rdfc-2022" | "ecdsa-rdfc-2019" | "ecdsa-sd-2023",
//    "credential": {...}, "mandatoryPointers": [...]}      -> {"signed": {...}, "did": "did:key:..."}
//   {"op": "derive", "document": {...}, "selectivePointers": [...]} -> {"derived": {...}}
//   {"op": "verify", "document": {...}}                       -> {"verified": bool, "error": "..."}
// No network: contexts come from the npm context packages, did:key documents are derived
// from the DID itself (as did-method-key does).
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {cryptosuite as ecdsaRdfc2019} from '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';
import {
  createSignCryptosuite, createDiscloseCryptosuite, createVerifyCryptosuite
} from '@digitalbazaar/ecdsa-sd-2023-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import {contexts as diContexts} from '@digitalbazaar/data-integrity-context';
import {contexts as multikeyContexts} from '@digitalbazaar/multikey-context';

const CONTEXTS = new Map([...credentialsContexts, ...diContexts, ...multikeyContexts]);
const DID_V1 = 'https://www.w3.org/ns/did/v1';
const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';

function didKeyDocument(did) {
  const multibase = did.slice('did:key:'.length);
  const id = `${did}#${multibase}`;
  const method = {id, type: 'Multikey', controller: did, publicKeyMultibase: multibase};
  return {
    '@context': [DID_V1, MULTIKEY_V1], id: did, verificationMethod: [method],
    assertionMethod: [id], authentication: [id]
  };
}

async function documentLoader(url) {
  let document = CONTEXTS.get(url);
  if(!document && url.startsWith('did:key:')) {
    const [did, fragment] = url.split('#');
    const doc = didKeyDocument(did);
    document = fragment === undefined ? doc :
      {'@context': MULTIKEY_V1, ...doc.verificationMethod[0]};
  }
  if(!document) {
    throw new Error(`document not served offline: ${url}`);
  }
  return {contextUrl: null, documentUrl: url, document};
}

async function newKey(suite) {
  const key = suite === 'eddsa-rdfc-2022' ?
    await Ed25519Multikey.generate() : await EcdsaMultikey.generate({curve: 'P-256'});
  const did = `did:key:${key.publicKeyMultibase}`;
  key.id = `${did}#${key.publicKeyMultibase}`;
  key.controller = did;
  return {key, did};
}

function signingSuite(name, request) {
  if(name === 'eddsa-rdfc-2022') return eddsaRdfc2022;
  if(name === 'ecdsa-rdfc-2019') return ecdsaRdfc2019;
  if(name === 'ecdsa-sd-2023') {
    return createSignCryptosuite({mandatoryPointers: request.mandatoryPointers || []});
  }
  throw new Error(`unknown suite ${name}`);
}

function verifyingSuite(name) {
  if(name === 'eddsa-rdfc-2022') return eddsaRdfc2022;
  if(name === 'ecdsa-rdfc-2019') return ecdsaRdfc2019;
  if(name === 'ecdsa-sd-2023') return createVerifyCryptosuite();
  throw new Error(`unknown suite ${name}`);
}

async function handle(request) {
  if(request.op === 'issue') {
    const {key, did} = await newKey(request.suite);
    const credential = {...request.credential, issuer: did};
    const suite = new DataIntegrityProof({
      signer: key.signer(), cryptosuite: signingSuite(request.suite, request)
    });
    const signed = await vc.issue({credential, suite, documentLoader});
    return {signed, did};
  }
  if(request.op === 'derive') {
    const suite = new DataIntegrityProof({
      cryptosuite: createDiscloseCryptosuite({selectivePointers: request.selectivePointers})
    });
    const derived = await vc.derive({verifiableCredential: request.document, suite, documentLoader});
    return {derived};
  }
  if(request.op === 'verify') {
    const name = request.document?.proof?.cryptosuite;
    const suite = new DataIntegrityProof({cryptosuite: verifyingSuite(name)});
    const result = await vc.verifyCredential({credential: request.document, suite, documentLoader});
    const errors = [result.error, ...(result.results || []).map(r => r.error)].filter(Boolean);
    const error = errors.map(e => e.message || String(e)).join('; ');
    return {verified: result.verified === true, error};
  }
  throw new Error(`unknown op ${request.op}`);
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
try {
  const answer = await handle(JSON.parse(Buffer.concat(chunks).toString('utf8')));
  process.stdout.write(JSON.stringify(answer));
} catch(e) {
  process.stdout.write(JSON.stringify({failed: String(e && e.stack || e)}));
  process.exitCode = 3;
}
