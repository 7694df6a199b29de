// A ProConnect stand-in for ancre's tests: the certified `oidc-provider` (the library
// ProConnect's own federation is built on) configured like ProConnect, per
// shared/reference/proconnect.md, on a loopback port. Test use only.
//
// Usage: node proconnect-standin.mjs --port 0 --issuer-path /api/v2 \
//          --client client.json --accounts accounts.json
// (or env STANDIN_PORT, STANDIN_ISSUER, STANDIN_CLIENT, STANDIN_ACCOUNTS).
// Prints one line on stdout when ready: {"ready":true,"issuer":"http://127.0.0.1:PORT/api/v2",...}
// Exits 98 when the port is taken (the Python fixture then retries on another one).
//
// Like ProConnect (reference sections in brackets):
// - issuer https://<host>/api/v2, endpoints /authorize /token /userinfo /session/end [§1];
// - response_type=code only; client_secret_post or private_key_jwt, never client_secret_basic [§3];
// - ES256-signed ID tokens (RS256/HS256 offered as at registration), signed userinfo
//   (application/jwt) when the client registered userinfo_signed_response_alg [§3];
// - ProConnect's scopes and claims (given_name, usual_name, siret, idp_id, roles, …) [§4];
// - its acr values, requested through the `claims` parameter [§5];
// - RP-initiated logout with post_logout_redirect_uri and state [§6];
// - idp_hint, siret_hint accepted as extra parameters; any other unknown authorization
//   parameter, or a state/nonce shorter than 32 characters, refused with a 400 [§2].
// Differences, on purpose: PKCE (S256) is *required* here (ProConnect accepts it, does not
// require it: the bridge must always send it); the login is headless (below).
//
// Headless login: the interaction endpoint logs in, without any page, the test person named
// by `login_hint` (their e-mail, as ProConnect's login_hint, or their account id), or else
// the one set by `POST <issuer>/__test/login-as {"account": "<id>"}` (for browser tests whose
// relying party builds the authorization URL itself). The acr is the first value the request
// asks for (claims.id_token.acr value/values, or acr_values) that the person's "acr" list
// allows, else the person's first; an essential acr the person cannot reach ends the flow
// with access_denied, as ProConnect does when the user cannot be certified.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const CERTIFICATION_DIRIGEANT = 'https://proconnect.gouv.fr/assurance/certification-dirigeant';
// FED-ACR supportedAcrValues (reference §5), in ProConnect's order.
const ACR_VALUES = ['eidas0', 'eidas0-mfa', 'eidas1', 'eidas1-mfa', 'eidas2', 'eidas3', CERTIFICATION_DIRIGEANT];

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.STANDIN_PORT ?? '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'issuer-path': { type: 'string', default: process.env.STANDIN_ISSUER_PATH ?? '/api/v2' },
    client: { type: 'string', default: process.env.STANDIN_CLIENT },
    accounts: { type: 'string', default: process.env.STANDIN_ACCOUNTS },
  },
});

function readJson(path, what) {
  if (!path) {
    console.error(`proconnect-standin: --${what} <file.json> is required`);
    process.exit(64);
  }
  return JSON.parse(readFileSync(path, 'utf8'));
}

// One registered client, or {"clients": [...]} for several (e.g. one per client
// authentication method).
const clientFile = readJson(args.client, 'client');
const clientConfigs = Array.isArray(clientFile.clients) ? clientFile.clients : [clientFile];
const accountList = readJson(args.accounts, 'accounts').accounts;
const accounts = new Map(accountList.map((a) => [a.id, a]));
const byEmail = new Map(accountList.map((a) => [a.claims.email?.toLowerCase(), a]));
let nextLogin = null;

// Fresh keys per run: the relying party must take them from the JWKS, never hard-code them.
function signingKey(type, options, alg) {
  const jwk = generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`, alg, use: 'sig' };
}
const jwks = {
  keys: [
    signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
    signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
  ],
};

function claimsOf(account) {
  return { sub: account.id, ...account.claims };
}

const issuerPath = args['issuer-path'].replace(/\/$/, '');

function configuration(issuer) {
  return {
    clients: clientConfigs.map((client) => ({
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
      userinfo_signed_response_alg: 'ES256',
      response_types: ['code'],
      grant_types: ['authorization_code'],
      ...client,
    })),
    jwks,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    acrValues: ACR_VALUES,
    // FED-CFG `claims` (reference §4): scope → claims; null = a claim without a scope.
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
      openid: ['sub'],
      given_name: ['given_name'],
      usual_name: ['usual_name'],
      email: ['email'],
      uid: ['uid'],
      siret: ['siret'],
      siren: ['siren'],
      idp_id: ['idp_id'],
      idp_acr: ['idp_acr'],
      organization_label: ['organization_label'],
      roles: ['roles'],
      phone: ['phone_number'],
      organizational_unit: ['organizational_unit'],
      belonging_population: ['belonging_population'],
      chorusdt: ['chorusdt:matricule', 'chorusdt:societe'],
      custom: ['custom'],
      // A generic OpenID provider's claims (the login bridge's claims_mapping tests):
      // OpenID Connect Core §5.4 `profile`, and an organization scope of its own.
      profile: ['family_name', 'given_name'],
      organization: ['organization_siret'],
    },
    extraParams: ['idp_hint', 'siret_hint'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_post', 'private_key_jwt'],
    enabledJWA: {
      idTokenSigningAlgValues: ['HS256', 'ES256', 'RS256'],
      userinfoSigningAlgValues: ['HS256', 'ES256', 'RS256'],
      clientAuthSigningAlgValues: ['ES256', 'RS256'],
    },
    routes: {
      authorization: '/authorize',
      token: '/token',
      userinfo: '/userinfo',
      end_session: '/session/end',
      jwks: '/jwks',
    },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      jwtUserinfo: { enabled: true },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        // ProConnect answers the logout with a redirect; oidc-provider asks for a
        // confirmation first. A form a test can submit (a browser submits it at once).
        logoutSource(ctx, form) {
          ctx.body = `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Déconnexion</title></head>
<body>${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Se déconnecter</button>
<script>document.forms[0].insertAdjacentHTML('beforeend','<input type="hidden" name="logout" value="yes">');document.forms[0].submit()</script></body></html>`;
        },
      },
    },
    ttl: {
      AuthorizationCode: 60, // DOCS §2.3: the code lives 60 s
      AccessToken: 60, // the doc example's expires_in
      IdToken: 60,
      Interaction: 600,
      Session: 12 * 3600, // ProConnect session: 12 h
      Grant: 12 * 3600,
    },
    interactions: {
      url(ctx, interaction) {
        return `${issuerPath}/interaction/${interaction.uid}`;
      },
    },
    async findAccount(ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return claimsOf(account);
        },
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

function requestedAcr(params) {
  // The claims parameter is how ProConnect's relying parties ask (reference §5).
  let request = {};
  if (params.claims) {
    try {
      request = JSON.parse(params.claims)?.id_token?.acr ?? {};
    } catch {
      request = {};
    }
  }
  const values = request.value ? [request.value] : (request.values ?? []);
  if (!values.length && params.acr_values) values.push(...params.acr_values.split(' '));
  return { values, essential: Boolean(request.essential) };
}

async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    const hint = params.login_hint?.toLowerCase();
    const account = (hint && (byEmail.get(hint) ?? accounts.get(params.login_hint))) || nextLogin;
    if (!account) {
      return provider.interactionFinished(req, res, {
        error: 'login_required',
        error_description: 'stand-in: no login_hint and no POST /__test/login-as',
      }, { mergeWithLastSubmission: false });
    }
    const allowed = account.acr ?? ['eidas1'];
    const { values, essential } = requestedAcr(params);
    const acr = values.find((v) => allowed.includes(v)) ?? (essential && values.length ? null : allowed[0]);
    if (!acr) {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: `stand-in: ${account.id} cannot reach acr ${values.join(' ')}`,
      }, { mergeWithLastSubmission: false });
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: account.id, acr, amr: account.amr ?? ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    // ProConnect shows no consent screen to the user for a registered relying party.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  res.statusCode = 400;
  res.end(`stand-in: unexpected prompt ${prompt.name}`);
  return undefined;
}

// ProConnect's own checks of the authorization request, before oidc-provider's (DOCS §2.2,
// FED-DTO): only its documented parameters, state and nonce of at least 32 characters. It
// answers with an error page, not a redirect to the client.
const AUTHORIZE_PARAMS = new Set([
  'response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'nonce', 'claims',
  'acr_values', 'prompt', 'idp_hint', 'login_hint', 'siret_hint', 'code_challenge',
  'code_challenge_method',
]);

function proconnectAuthorizeRules(params) {
  for (const name of params.keys()) {
    if (!AUTHORIZE_PARAMS.has(name)) return `Y000400 : Bad Request Exception: unknown parameter ${name}`;
  }
  for (const name of ['state', 'nonce']) {
    if ((params.get(name) ?? '').length < 32) {
      return `Y000400 : Bad Request Exception: ${name} must be at least 32 characters`;
    }
  }
  return null;
}

async function readBody(req, limit = 4096) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error('body too large');
  }
  return body;
}

async function testControl(req, res) {
  if (req.method !== 'POST') {
    res.statusCode = 405;
    return res.end();
  }
  const { account } = JSON.parse(await readBody(req));
  nextLogin = account === null ? null : accounts.get(account) ?? null;
  res.statusCode = nextLogin || account === null ? 204 : 404;
  return res.end();
}

const server = http.createServer();
server.on('error', (err) => {
  console.error(`proconnect-standin: ${err.code ?? ''} ${err.message}`);
  process.exit(err.code === 'EADDRINUSE' ? 98 : 1);
});
server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  const issuer = `http://${args.host}:${port}${issuerPath}`;
  const provider = new Provider(issuer, configuration(issuer));
  // Loopback over plain HTTP: oidc-provider must not insist on secure cookies.
  provider.proxy = false;
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    if (!url.pathname.startsWith(`${issuerPath}/`)) {
      res.statusCode = 404;
      return res.end();
    }
    const rest = url.pathname.slice(issuerPath.length);
    const done = (err) => {
      console.error(`proconnect-standin: ${err?.stack ?? err}`);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      }
    };
    if (rest === '/authorize' && req.method === 'GET') {
      const refusal = proconnectAuthorizeRules(url.searchParams);
      if (refusal) {
        res.statusCode = 400;
        res.setHeader('Content-Type', 'application/json');
        return res.end(JSON.stringify({ error: 'invalid_request', error_description: refusal }));
      }
    }
    if (rest.startsWith('/interaction/')) return interaction(provider, req, res).catch(done);
    if (rest === '/__test/login-as') return testControl(req, res).catch(done);
    // Mounted under the issuer path, as ProConnect serves /api/v2/...: oidc-provider finds
    // its mount path from originalUrl.
    req.originalUrl = req.url;
    req.url = req.url.slice(issuerPath.length) || '/';
    return callback(req, res);
  });
  provider.on('server_error', (ctx, err) => console.error(`proconnect-standin: ${err.stack}`));
  process.stdout.write(`${JSON.stringify({ ready: true, issuer, port, client_ids: clientConfigs.map((c) => c.client_id) })}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
