// A real OpenID provider for netwarden's single sign-on tests: panva's oidc-provider (OpenID
// Certified), configured with one confidential client (netwarden) and a few test accounts.
//
// Usage: node provider.mjs PORT      (listens on 127.0.0.1:PORT, issuer http://127.0.0.1:PORT)
// Environment:
//   OIDC_REDIRECT_URI   the netwarden callback(s) (…/login/oidc/callback), space-separated
//   OIDC_CLIENT_ID      default "netwarden"
//   OIDC_CLIENT_SECRET  the client secret (required)
//   OIDC_LOG            file to append the provider's events and errors to
//
// Logins use the provider's own development interactions: a login form that accepts any
// password for an account of the table below, then a consent page. Only loopback is touched.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.OIDC_PORT);
const redirectUris = (process.env.OIDC_REDIRECT_URI || '').split(/\s+/).filter(Boolean);
const clientId = process.env.OIDC_CLIENT_ID || 'netwarden';
const clientSecret = process.env.OIDC_CLIENT_SECRET;
const logFile = process.env.OIDC_LOG;

function log(...parts) {
  const line = `${new Date().toISOString()} ${parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ')}\n`;
  if (logFile) appendFileSync(logFile, line);
  else process.stderr.write(line);
}

if (!Number.isInteger(port) || port < 1 || port > 65535 || !redirectUris.length || !clientSecret) {
  log('usage: OIDC_REDIRECT_URI=… OIDC_CLIENT_SECRET=… node provider.mjs PORT');
  process.exit(2);
}

// accountId (the login typed into the form, also the subject) -> claims. `role` absent: the
// claim is not sent at all.
const ACCOUNTS = {
  erin: { preferred_username: 'erin', role: 'analyst' },
  frank: { preferred_username: 'frank', role: 'supervisor' },
  gina: { preferred_username: 'gina' },
  henry: { preferred_username: 'henry', role: 'janitor' },
  ivan: { preferred_username: 'ivan', role: ['staff', 'auditor'] },
  kim: { preferred_username: 'kim', role: ['analyst', 'supervisor'] },
  lena: { preferred_username: 'lena', role: 'analyst' },
  olga: { preferred_username: 'olga', role: 'analyst' },
  // a second subject that claims olga's user name (a name reassigned at the provider)
  'olga-2': { preferred_username: 'olga', role: 'analyst' },
  // a subject whose user name is a netwarden password user
  alice: { preferred_username: 'alice', role: 'analyst' },
  // a user name netwarden cannot take
  'bad-name': { preferred_username: 'bad name/..', role: 'analyst' },
};

const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [{ ...signing.export({ format: 'jwk' }), kid: 'test-rsa-1', use: 'sig', alg: 'RS256' }] },
  cookies: {
    keys: [randomBytes(32).toString('hex')],
    // The default SameSite=None needs Secure, which a browser refuses over plain http; Lax
    // keeps the provider's own session across its login and consent pages.
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username'],
    netwarden: ['netwarden_role'],
  },
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = Object.hasOwn(ACCOUNTS, id) ? ACCOUNTS[id] : undefined;
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        const claims = { sub: id, preferred_username: account.preferred_username };
        if (account.role !== undefined) claims.netwarden_role = account.role;
        return claims;
      },
    };
  },
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'discovery.error', 'jwks.error']) {
  provider.on(event, (ctx, err) => log(event, String(err), err && err.error_description ? err.error_description : ''));
}
provider.on('grant.success', (ctx) => log('grant.success', ctx.oidc.client ? ctx.oidc.client.clientId : ''));

provider.listen(port, '127.0.0.1', () => log(`oidc-provider listening, issuer ${issuer}`));
