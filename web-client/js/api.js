// The REST client: one function per endpoint of /api/v1, and the French message of every
// error code. Views never call fetch themselves.
//
// The session is an HttpOnly cookie the page cannot read; the browser sends it, and the
// `Origin` header the server requires on state-changing requests, by itself.

/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').LoginChallenge} LoginChallenge */
/** @typedef {import('./types.js').SessionOpened} SessionOpened */
/** @typedef {import('./types.js').SessionInfo} SessionInfo */
/** @typedef {import('./types.js').WebauthnCeremony} WebauthnCeremony */
/** @typedef {import('./types.js').SecurityKey} SecurityKey */
/** @typedef {import('./types.js').Institution} Institution */
/** @typedef {import('./types.js').Account} Account */
/** @typedef {import('./types.js').AccountWithPassword} AccountWithPassword */
/** @typedef {import('./types.js').CreateAccount} CreateAccount */
/** @typedef {import('./types.js').UpdateAccount} UpdateAccount */

import { ERROR_MESSAGES } from './labels.js';
import * as routes from './routes.js';

/** @typedef {import('./routes.js').Route} Route */

// The French messages live with the other labels; re-exported for the views that had them here.
export { ERROR_MESSAGES };

/**
 * The address of an endpoint of routes.js: API_BASE, its path with each `{parameter}`
 * replaced by the next of `values` (percent-encoded: one path segment each), and the query.
 * @param {Route} route
 * @param {string[]} [values] One per parameter of the path, in order.
 * @param {Record<string, string>} [query]
 * @returns {string}
 */
export function urlOf(route, values = [], query) {
  let used = 0;
  const path = route.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(values[used++] ?? ''));
  // A programming error, not a user's: every call site names its route's parameters.
  if (used !== values.length) throw new Error(`${route.path} takes ${used} values, not ${values.length}`);
  const search = query === undefined ? '' : `?${new URLSearchParams(query)}`;
  return routes.API_BASE + path + search;
}

/**
 * The French message for an error code.
 * @param {string} code
 * @param {string} [serverMessage] The `message` the server sent, if any.
 * @returns {string}
 */
export function messageFor(code, serverMessage) {
  // These carry their own details (a refused file names each of its lines).
  if ((code === 'bad_request' || code === 'invalid_file' || code === 'personal_data') && serverMessage) return serverMessage;
  return ERROR_MESSAGES[code] ?? serverMessage ?? `Une erreur inattendue est survenue (code « ${code} »).`;
}

/** A failed request, with its stable code and a message for people. */
export class ApiError extends Error {
  /**
   * @param {string} code Stable snake_case code (the server's, or a client-side one).
   * @param {string} message French, ready to show.
   * @param {number} status HTTP status, 0 when no answer came.
   * @param {string | null} [about] The account the refusal is about.
   */
  constructor(code, message, status, about = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    /** The account the refusal is about, when the request named several people. */
    this.about = about;
  }
}

/** @type {(error: ApiError) => void} */
let onSessionLost = () => {};

/**
 * Registers what to do when a request finds the session gone (expired, revoked elsewhere)
 * or the account disabled: either way nothing more can be done with this session.
 * @param {(error: ApiError) => void} handler
 */
export function onUnauthenticated(handler) {
  onSessionLost = handler;
}

/**
 * Sends one request and decodes the answer.
 * @param {Route} route The endpoint, from routes.js.
 * @param {string[]} values Its path parameters, in order.
 * @param {unknown} [body] Sent as JSON when given.
 * @param {{ query?: Record<string, string>, loginStep?: boolean, headers?: Record<string, string>, onResponse?: (response: Response) => void }} [options]
 *   Login steps answer `unauthenticated`-like codes as part of their normal flow: they
 *   must not trigger the session-lost handler. `onResponse` sees the headers (ETag).
 * @returns {Promise<any>}
 */
async function request(route, values, body, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', ...options.headers };
  /** @type {RequestInit} */
  const init = { method: route.method, credentials: 'same-origin', headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(urlOf(route, values, options.query), init);
  } catch {
    throw new ApiError('network_error', messageFor('network_error'), 0);
  }
  options.onResponse?.(response);
  if (response.status === 204) return undefined;
  /** @type {any} */
  let data = null;
  try {
    data = await response.json();
  } catch {
    // An empty or non-JSON body: handled below from the status alone.
  }
  if (response.ok) {
    if (data === null) throw new ApiError('unexpected_response', messageFor('unexpected_response'), response.status);
    return data;
  }
  const code = typeof data?.error?.code === 'string' ? data.error.code : codeOfStatus(response.status);
  const serverMessage = typeof data?.error?.message === 'string' ? data.error.message : undefined;
  const about = typeof data?.error?.about === 'string' ? data.error.about : null;
  const error = new ApiError(code, messageFor(code, serverMessage), response.status, about);
  if ((code === 'unauthenticated' || code === 'account_disabled') && !options.loginStep) onSessionLost(error);
  throw error;
}

/**
 * A code for an error answer without a JSON body (a proxy's page, say).
 * @param {number} status
 * @returns {string}
 */
function codeOfStatus(status) {
  switch (status) {
    case 401:
      return 'unauthenticated';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 412:
      return 'version_conflict';
    case 413:
      return 'payload_too_large';
    case 429:
      return 'too_many_attempts';
    default:
      return status >= 500 ? 'internal_error' : 'unexpected_response';
  }
}

/** The caller's passkeys and security keys (« Mes clés de sécurité »). */
export const securityKeys = {
  /** @returns {Promise<SecurityKey[]>} */
  list: () => request(routes.SECURITY_KEYS, []),
  /**
   * @param {string} name
   * @param {boolean} passwordless
   * @returns {Promise<WebauthnCeremony>}
   */
  begin: (name, passwordless) => request(routes.SECURITY_KEY_REGISTER_BEGIN, [], { name, passwordless }),
  /**
   * @param {string} ceremonyId
   * @param {object} credential
   * @returns {Promise<SecurityKey>}
   */
  finish: (ceremonyId, credential) =>
    request(routes.SECURITY_KEY_REGISTER_FINISH, [], { ceremony_id: ceremonyId, credential }),
  /**
   * @param {string} id
   * @param {string} name
   * @returns {Promise<void>}
   */
  rename: (id, name) => request(routes.SECURITY_KEY_RENAME, [id], { name }),
  /**
   * @param {string} id
   * @returns {Promise<void>}
   */
  remove: (id) => request(routes.SECURITY_KEY_REMOVE, [id]),
};

/** Authentication and the caller's own account. */
export const auth = {
  /**
   * The password step.
   * @param {string} login
   * @param {string} password
   * @returns {Promise<LoginChallenge>}
   */
  login: (login, password) => request(routes.LOGIN, [], { login, password }, { loginStep: true }),
  /**
   * The TOTP step; opens the session (cookie).
   * @param {string} challenge
   * @param {string} code
   * @returns {Promise<SessionOpened>}
   */
  totp: (challenge, code) => request(routes.LOGIN_TOTP, [], { challenge, code }, { loginStep: true }),
  /**
   * The second step with a passkey or security key; opens the session (cookie).
   * @param {string} challenge
   * @param {string} ceremonyId
   * @param {object} credential
   * @returns {Promise<SessionOpened>}
   */
  webauthn: (challenge, ceremonyId, credential) =>
    request(routes.LOGIN_WEBAUTHN, [], { challenge, ceremony_id: ceremonyId, credential }, { loginStep: true }),
  /**
   * Begins a sign-in with a passkey alone.
   * @returns {Promise<WebauthnCeremony>}
   */
  passwordless: () => request(routes.PASSWORDLESS_BEGIN, [], undefined, { loginStep: true }),
  /**
   * @param {string} ceremonyId
   * @param {object} credential
   * @returns {Promise<SessionOpened>}
   */
  passwordlessFinish: (ceremonyId, credential) =>
    request(routes.PASSWORDLESS_FINISH, [], { ceremony_id: ceremonyId, credential }, { loginStep: true }),
  /** @returns {Promise<void>} */
  logout: () => request(routes.LOGOUT, []),
  /**
   * The current account, or null when no session is open.
   * @returns {Promise<Me | null>}
   */
  me: async () => {
    try {
      return await request(routes.ME, [], undefined, { loginStep: true });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'unauthenticated') return null;
      throw error;
    }
  },
  /** @returns {Promise<SessionInfo[]>} */
  sessions: () => request(routes.SESSIONS, []),
  /**
   * @param {string} id
   * @returns {Promise<void>}
   */
  revokeSession: (id) => request(routes.SESSION_REVOKE, [id]),
  /**
   * @param {string} currentPassword
   * @param {string} newPassword
   * @returns {Promise<void>}
   */
  changePassword: (currentPassword, newPassword) =>
    request(routes.PASSWORD_CHANGE, [], { current_password: currentPassword, new_password: newPassword }),
};

/** Invitations by one-time link (no session: the link's token is the proof). */
export const invitations = {
  /**
   * @param {string} token
   * @param {string} newPassword
   * @returns {Promise<void>}
   */
  accept: (token, newPassword) => request(routes.INVITATION_ACCEPT, [], { token, new_password: newPassword }, { loginStep: true }),
};

/** The caller's offline notices by e-mail. */
export const notices = {
  /** @returns {Promise<import('./types.js').NoticeSettings>} */
  get: () => request(routes.NOTICES, []),
  /**
   * @param {boolean} enabled
   * @returns {Promise<import('./types.js').NoticeSettings>}
   */
  set: (enabled) => request(routes.NOTICES_SET, [], { enabled }),
};

/** The admin console's endpoints (role admin). */
export const admin = {
  /** @returns {Promise<Institution[]>} */
  institutions: () => request(routes.INSTITUTIONS, []),
  /**
   * @param {string} name
   * @returns {Promise<Institution>}
   */
  /** @param {string} name @param {string} kind */
  createInstitution: (name, kind) => request(routes.INSTITUTION_CREATE, [], { name, kind }),
  /** @returns {Promise<Account[]>} */
  accounts: () => request(routes.ACCOUNTS, []),
  /**
   * @param {CreateAccount} account
   * @returns {Promise<AccountWithPassword>}
   */
  createAccount: (account) => request(routes.ACCOUNT_CREATE, [], account),
  /**
   * Creates the accounts of a CSV list, all or none (a refused file: `invalid_file`, each
   * refused line on a line of the message).
   * @param {string} csv
   * @returns {Promise<{ accounts: AccountWithPassword[] }>}
   */
  importAccounts: (csv) => request(routes.ACCOUNTS_IMPORT, [], { csv }),
  /**
   * @param {string} id
   * @param {UpdateAccount} changes
   * @returns {Promise<Account>}
   */
  updateAccount: (id, changes) => request(routes.ACCOUNT_UPDATE, [id], changes),
  /**
   * @param {string} id
   * @returns {Promise<AccountWithPassword>}
   */
  resetPassword: (id) => request(routes.ACCOUNT_RESET_PASSWORD, [id]),
  /**
   * @param {string} id
   * @returns {Promise<Account>}
   */
  resetMfa: (id) => request(routes.ACCOUNT_RESET_MFA, [id]),
  /**
   * @param {string} id
   * @returns {Promise<Account>}
   */
  disable: (id) => request(routes.ACCOUNT_DISABLE, [id]),
  /**
   * @param {string} id
   * @returns {Promise<Account>}
   */
  enable: (id) => request(routes.ACCOUNT_ENABLE, [id]),
  /**
   * @param {string} id
   * @returns {Promise<Account>}
   */
  unlock: (id) => request(routes.ACCOUNT_UNLOCK, [id]),
  /**
   * Sets (or, with null, removes) the address offline notices go to.
   * @param {string} id
   * @param {string | null} email
   * @returns {Promise<void>}
   */
  setEmail: (id, email) => request(routes.ACCOUNT_SET_EMAIL, [id], { email }),
  /**
   * A one-time link with which the person chooses their password (shown once).
   * @param {string} id
   * @returns {Promise<{ link: string, expires_at: number }>}
   */
  invite: (id) => request(routes.ACCOUNT_INVITE, [id]),
  /**
   * Publishes a new charter version: everyone must accept it again (CHARTER.md C2).
   * @param {string} text Markdown, in French.
   * @returns {Promise<import('./types.js').CharterVersion>}
   */
  publishCharter: (text) => request(routes.CHARTER_PUBLISH, [], { text }),
};

// ---- Keys, channels, charter, cases, audit (typed in types.js) -------------------------

/** @typedef {import('./types.js').UserKeys} UserKeys */
/** @typedef {import('./types.js').LinkRequest} LinkRequest */
/** @typedef {import('./types.js').Channel} Channel */
/** @typedef {import('./types.js').ChannelDetail} ChannelDetail */
/** @typedef {import('./types.js').EpochState} EpochState */
/** @typedef {import('./types.js').HistoryPage} HistoryPage */
/** @typedef {import('./types.js').MembershipPage} MembershipPage */
/** @typedef {import('./types.js').DirectoryEntry} DirectoryEntry */
/** @typedef {import('./types.js').CharterStatus} CharterStatus */
/** @typedef {import('./types.js').RulesStatus} RulesStatus */

/** The key directory and the key backup (docs/PROTOCOL.md §5, §10). */
export const keys = {
  /**
   * @param {string} identityKey base64url
   * @returns {Promise<{ version: number }>}
   */
  publishIdentity: (identityKey) => request(routes.IDENTITY_PUBLISH, [], { identity_key: identityKey }),
  /**
   * @param {unknown} certificate
   * @param {string} name
   */
  registerDevice: (certificate, name) => request(routes.DEVICE_REGISTER, [], { certificate, name }),
  /**
   * New keys for the account in one step (§5.5, §5.6): identity, first device, first
   * backup. `enrol`: a first enrolment, refused (`identity_exists`) if the account has an
   * identity already.
   * @param {{ identity_key: string, certificate: unknown, name: string, backup: unknown, enrol?: boolean }} body
   * @returns {Promise<{ identity_version: number, backup_version: number }>}
   */
  resetKeys: (body) => request(routes.KEYS_RESET, [], body),
  /** @param {string} id */
  revokeDevice: (id) => request(routes.DEVICE_REVOKE, [id]),
  /**
   * @param {string} userId
   * @returns {Promise<UserKeys>}
   */
  user: (userId) => request(routes.USER_KEYS, [userId]),
  // The key transparency log (§25).
  /** @returns {Promise<{ checkpoint: string, verifier_key: string, size: number }>} */
  logHead: () => request(routes.KEY_LOG_HEAD, []),
  /**
   * @param {number} from
   * @param {number} to
   * @returns {Promise<{ from: number, to: number, proof: string[] }>}
   */
  logConsistency: (from, to) => request(routes.KEY_LOG_CONSISTENCY, [], undefined, { query: { from: String(from), to: String(to) } }),
  /**
   * @param {string} userId
   * @param {number} size
   * @returns {Promise<{ user_id: string, size: number, entries: { index: number, entry: any, at: number, proof: string[] }[] }>}
   */
  logUser: (userId, size) => request(routes.KEY_LOG_USER, [userId], undefined, { query: { size: String(size) } }),
  /**
   * A page of the whole log (at most 1000 entries), which this browser audits (§25.4).
   * @param {number} start
   * @param {number} end
   * @returns {Promise<{ start: number, end: number, entries: { index: number, entry: any, at: number }[] }>}
   */
  logEntries: (start, end) => request(routes.KEY_LOG_ENTRIES, [], undefined, { query: { start: String(start), end: String(end) } }),
  // Linking a new device from an existing one (§5.5.1).
  /**
   * Posts this new device's certificate request, relayed to the user's other devices.
   * @param {import('./crypto/identity.js').CertificateRequest} certificateRequest
   * @param {string} name
   * @returns {Promise<LinkRequest>}
   */
  createLinkRequest: (certificateRequest, name) => request(routes.LINK_REQUEST_CREATE, [], { request: certificateRequest, name }),
  /**
   * The pending link requests of the account.
   * @returns {Promise<{ requests: LinkRequest[] }>}
   */
  linkRequests: () => request(routes.LINK_REQUESTS, []),
  /**
   * @param {string} id
   * @returns {Promise<LinkRequest>}
   */
  linkRequest: (id) => request(routes.LINK_REQUEST, [id]),
  /**
   * Certifies a link request (after the user compared the link codes).
   * @param {string} id
   * @param {import('./crypto/identity.js').DeviceCertificate} certificate
   * @returns {Promise<import('./types.js').DeviceInfo>}
   */
  approveLink: (id, certificate) => request(routes.LINK_REQUEST_APPROVE, [id], { certificate }),
  /**
   * Refuses (or, from the new device, cancels) a link request.
   * @param {string} id
   * @returns {Promise<void>}
   */
  refuseLink: (id) => request(routes.LINK_REQUEST_REFUSE, [id]),
  /**
   * Past epoch keys re-wrapped for a newly linked device (§7.6), 1 000 at most per call.
   * @param {string} deviceId
   * @param {unknown[]} wraps
   * @returns {Promise<{ stored: number }>}
   */
  storeRewrapped: (deviceId, wraps) => request(routes.DEVICE_EPOCH_KEYS, [deviceId], { keys: wraps }),
  /**
   * Publishes this device's new signed prekey (§23); an older serial answers 409.
   * @param {string} deviceId
   * @param {import('./crypto/prekey.js').SignedPrekey} prekey
   * @returns {Promise<void>}
   */
  publishPrekey: (deviceId, prekey) => request(routes.DEVICE_PREKEY_PUBLISH, [deviceId], { prekey }),
  /**
   * The encrypted backup and its version, or null when there is none.
   * @returns {Promise<{ version: number, data: unknown } | null>}
   */
  backup: async () => {
    try {
      return await request(routes.KEY_BACKUP, []);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') return null;
      throw error;
    }
  },
  /**
   * Writes the backup over `version` (null: the first one). A stale version answers
   * `version_conflict`; the caller merges and retries.
   * @param {unknown} data
   * @param {number | null} version
   * @returns {Promise<number>} the new version
   */
  putBackup: async (data, version) => {
    let etag = null;
    await request(routes.KEY_BACKUP_PUT, [], { data }, {
      headers: version === null ? { 'if-none-match': '*' } : { 'if-match': `"${version}"` },
      onResponse: (response) => {
        etag = response.headers.get('etag');
      },
    });
    const parsed = etag ? Number(String(etag).replace(/"/g, '')) : NaN;
    return Number.isSafeInteger(parsed) ? parsed : (version ?? 0) + 1;
  },
  /**
   * One page of the paged backup (§10.8), or null when the server does not hold it.
   * @param {string} hash
   * @returns {Promise<unknown>}
   */
  backupPage: async (hash) => {
    try {
      const body = await request(routes.KEY_BACKUP_PAGE, [hash]);
      return body.page;
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') return null;
      throw error;
    }
  },
  /**
   * Stores one page of the paged backup under its hash.
   * @param {string} hash
   * @param {unknown} page
   */
  putBackupPage: (hash, page) => request(routes.KEY_BACKUP_PAGE_PUT, [hash], { page }),
  /**
   * Swaps the paged backup's head over `version` (null: the first one); a stale version
   * answers `version_conflict`.
   * @param {unknown} head
   * @param {number | null} version
   * @returns {Promise<number>} the new version
   */
  putBackupHead: async (head, version) => {
    const written = await request(routes.KEY_BACKUP_HEAD_PUT, [], { head }, {
      headers: version === null ? { 'if-none-match': '*' } : { 'if-match': `"${version}"` },
    });
    return written.version;
  },
};

/** Channels, membership, epochs, history and attachments. */
export const channels = {
  /**
   * Which of these channels were destroyed (§10.6), at most 1 000 ids.
   * @param {string[]} ids
   * @returns {Promise<{ destroyed: string[] }>}
   */
  destroyed: (ids) => request(routes.CHANNELS_DESTROYED, [], { channel_ids: ids }),
  /** @returns {Promise<Channel[]>} */
  list: () => request(routes.CHANNELS, []),
  /**
   * @param {string} id
   * @returns {Promise<ChannelDetail>}
   */
  detail: (id) => request(routes.CHANNEL, [id]),
  /**
   * A working group's named coordinators (CHARTER.md C1).
   * @param {string} id
   * @returns {Promise<{ group_id: string, coordinators: { user_id: string, display_name: string }[], can_edit: boolean }>}
   */
  coordinators: (id) => request(routes.CHANNEL_COORDINATORS, [id]),
  /**
   * Names a working group's coordinators among its members.
   * @param {string} id
   * @param {string[]} userIds
   * @param {import('./crypto/membership-log.js').MembershipRecord[]} [records] The signed
   *   `role_changed` records of the changes, once the group has a log (§22).
   * @returns {Promise<{ group_id: string, coordinators: { user_id: string, display_name: string }[], can_edit: boolean }>}
   */
  setCoordinators: (id, userIds, records = []) => request(routes.CHANNEL_COORDINATORS_SET, [id], records.length ? { user_ids: userIds, records } : { user_ids: userIds }),
  /**
   * @param {{ kind: 'working_group' | 'direct', name: string, regime: string, institutions: string[], members: string[] }} body
   * @returns {Promise<Channel>}
   */
  create: (body) => request(routes.CHANNEL_CREATE, [], body),
  /**
   * @param {string} id
   * @param {string} userId
   * @param {import('./crypto/membership-log.js').MembershipRecord | null} [record] The signed record of the addition (§22).
   */
  addMember: (id, userId, record = null) => request(routes.CHANNEL_MEMBER_ADD, [id], record ? { user_id: userId, record } : { user_id: userId }),
  /**
   * @param {string} id
   * @param {string} userId
   * @param {string} reason Logged (CHARTER.md C3).
   * @param {import('./crypto/membership-log.js').MembershipRecord | null} [record] The signed record of the removal (§22).
   */
  removeMember: (id, userId, reason, record = null) =>
    request(routes.CHANNEL_MEMBER_REMOVE, [id, userId], record ? { reason, record } : { reason }),
  /**
   * The channel's signed membership log (PROTOCOL.md §22).
   * @param {string} id
   * @returns {Promise<{ records: import('./crypto/membership-log.js').MembershipRecord[] }>}
   */
  membershipLog: (id) => request(routes.CHANNEL_MEMBERSHIP_LOG, [id]),
  /**
   * Starts the channel's signed membership log with its genesis record.
   * @param {string} id
   * @param {import('./crypto/membership-log.js').MembershipRecord} record
   */
  startMembershipLog: (id, record) => request(routes.CHANNEL_MEMBERSHIP_LOG_START, [id], { record }),
  /**
   * @param {string} id
   * @returns {Promise<EpochState>}
   */
  epoch: (id) => request(routes.CHANNEL_EPOCH, [id]),
  /**
   * @param {string} id
   * @param {number} epoch
   * @param {unknown[]} wraps
   * @param {{ device_id: string, reason: string }[]} [withheld] devices left out, and why (§7.5)
   */
  publishEpoch: (id, epoch, wraps, withheld = []) => request(routes.CHANNEL_EPOCH_PUBLISH, [id], { epoch, keys: wraps, withheld }),
  /**
   * Stores the channel's title, sealed here (§24).
   * @param {string} id
   * @param {any} envelope
   * @returns {Promise<Channel>}
   */
  sealTitle: (id, envelope) => request(routes.CHANNEL_TITLE_SEAL, [id], { envelope }),
  /**
   * @param {string} id
   * @param {string} deviceId
   * @returns {Promise<{ keys: unknown[], withheld?: { epoch: number, reason: string }[] }>}
   */
  keys: (id, deviceId) => request(routes.CHANNEL_DEVICE_KEYS, [id], undefined, { query: { device_id: deviceId } }),
  /**
   * This device stored these epochs' keys: the server deletes its wraps of them (§23.3).
   * @param {string} id
   * @param {string} deviceId
   * @param {number[]} epochs
   * @returns {Promise<void>}
   */
  keysDelivered: (id, deviceId, epochs) => request(routes.CHANNEL_KEYS_DELIVERED, [id], { device_id: deviceId, epochs }),
  /**
   * @param {string} id
   * @param {number} afterSeq
   * @param {number} limit
   * @returns {Promise<HistoryPage>}
   */
  history: (id, afterSeq, limit) => request(routes.CHANNEL_MESSAGES, [id], undefined, { query: { after_seq: String(afterSeq), limit: String(limit) } }),
  /**
   * The channel's membership history after event `after` (PROTOCOL.md §21).
   * @param {string} id
   * @param {number} after
   * @returns {Promise<MembershipPage>}
   */
  membership: (id, after) => request(routes.CHANNEL_MEMBERSHIP, [id], undefined, { query: { after: String(after), limit: '500' } }),
  /** @returns {Promise<DirectoryEntry[]>} */
  directory: () => request(routes.DIRECTORY, []),
  /**
   * Every institution of the CLSPD, by name (with or without accounts).
   * @returns {Promise<import('./types.js').InstitutionRef[]>}
   */
  institutions: () => request(routes.DIRECTORY_INSTITUTIONS, []),
  /**
   * @param {string} id
   * @returns {Promise<RulesStatus>}
   */
  rules: (id) => request(routes.CHANNEL_RULES, [id]),
  /**
   * @param {string} id
   * @param {string} text
   */
  publishRules: (id, text) => request(routes.CHANNEL_RULES_PUBLISH, [id], { text }),
  /**
   * @param {string} id
   * @param {number} version
   */
  acceptRules: (id, version) => request(routes.CHANNEL_RULES_ACCEPT, [id], { version }),
  /**
   * @param {string} id
   * @param {string} reason
   * @returns {Promise<{ channel_id: string, expires_at: number }>}
   */
  openArchived: (id, reason) => request(routes.CASE_OPEN_ARCHIVED, [id], { reason }),
  /**
   * @param {string} id
   * @param {{ end_date: number, destroy_by?: number | null }} body
   */
  archive: (id, body) => request(routes.CASE_ARCHIVE, [id], body),
};

/** The annual report (server/src/app/reports.rs). */
export const reports = {
  /**
   * @param {number} year
   * @returns {Promise<import('./types.js').AnnualReport>}
   */
  annual: (year) => request(routes.ANNUAL_REPORT, [], undefined, { query: { year: String(year) } }),
  /**
   * The CSV download's address, for a link (the session cookie goes with it).
   * @param {number} year
   */
  annualCsvUrl: (year) => urlOf(routes.ANNUAL_REPORT, [], { year: String(year), format: 'csv' }),
};

/** Cases and practice sessions (shared/src/protocol/v1/cases.rs). */
export const cases = {
  /**
   * @param {{ programme: string, reporting_institution: string, regime: string, group_id?: string | null, institutions: string[], members: string[], destroy_limit?: number | null, scheme?: import('./types.js').LocalScheme | null }} body
   * @returns {Promise<{ channel: Channel }>}
   */
  create: (body) => request(routes.CASE_CREATE, [], body),
  /**
   * @param {{ name: string, starts_at: number, ends_at: number, group_id?: string | null, institutions: string[], members: string[] }} body
   * @returns {Promise<{ channel: Channel, facilitator: string, rule: string }>}
   */
  createPracticeSession: (body) => request(routes.PRACTICE_SESSION_CREATE, [], body),
  /**
   * The case's record (CaseView).
   * @param {string} id
   * @returns {Promise<any>}
   */
  get: (id) => request(routes.CASE, [id]),
  /**
   * Changes the follow-up or records a review (CHARTER.md C11).
   * @param {string} id
   * @param {{ follow_up_status?: string, referent_user_id?: string, destroy_limit?: number, reviewed?: boolean, record?: object }} body
   * @returns {Promise<any>}
   */
  update: (id, body) => request(routes.CASE_UPDATE, [id], body),
  /**
   * Seals a case's note again under the current epoch (§24).
   * @param {string} id
   * @param {object} envelope
   * @returns {Promise<any>}
   */
  resealNote: (id, envelope) => request(routes.CASE_NOTE_RESEAL, [id], { envelope }),
  /**
   * How the person was informed, or why not (CHARTER.md C13).
   * @param {string} id
   * @param {object} record An InformationRecord.
   */
  recordInformation: (id, record) => request(routes.CASE_INFORMATION, [id], record),
  /**
   * Whom the next version of the person's identity is sealed for (CHARTER.md C7).
   * @param {string} id
   * @returns {Promise<{ next_version: number, readers: { user_id: string, display_name: string, duty: string, devices: string[] }[] }>}
   */
  identityReaders: (id) => request(routes.CASE_IDENTITY_READERS, [id]),
  /**
   * Stores a new sealed version of the person's identity.
   * @param {string} id
   * @param {{ version: number, envelope: object, keys: object[] }} body
   * @returns {Promise<{ version: number, sealed_by: string, sealed_at: number, up_to_date: boolean }>}
   */
  sealIdentity: (id, body) => request(routes.CASE_IDENTITY_SEAL, [id], body),
  /**
   * The sealed identity and this device's key; the server logs the opening.
   * @param {string} id
   * @param {string} deviceId
   * @returns {Promise<{ case_id: string, version: number, sealed_by: string, sealed_at: number, envelope: object, key: object }>}
   */
  openIdentity: (id, deviceId) => request(routes.CASE_IDENTITY, [id], undefined, { query: { device_id: deviceId } }),
  /**
   * The notice templates to inform the person (CHARTER.md C13).
   * @returns {Promise<{ id: string, title: string, audience: string, text: string }[]>}
   */
  noticeTemplates: () => request(routes.CASE_NOTICE_TEMPLATES, []),
  /**
   * @param {string} id
   * @returns {Promise<{ channel: Channel, facilitator: string, rule: string }>}
   */
  practiceSession: (id) => request(routes.PRACTICE_SESSION, [id]),
};

/** The mediators' field reports (docs/PROTOCOL.md §16). */
export const fieldReports = {
  /**
   * Files a report; the description is an envelope sealed for the group.
   * @param {{ group_id: string, category: string, sealed_place: object, observed_at: number, description: object }} body
   * @returns {Promise<any>} the FieldReport
   */
  file: (body) => request(routes.FIELD_REPORT_FILE, [], body),
  /**
   * The reports this account may see, newest first.
   * @returns {Promise<any[]>}
   */
  list: () => request(routes.FIELD_REPORTS, []),
  /**
   * Moves a report one step forward (`in_progress`, then `done` with the sealed answer).
   * @param {string} id
   * @param {{ status: string, answer?: object }} body
   * @returns {Promise<any>}
   */
  update: (id, body) => request(routes.FIELD_REPORT_STATUS, [id], body),
};

/** The referrals of the intervenant social (docs/PROTOCOL.md §17). */
export const referrals = {
  /**
   * Opens a referral; the note, if any, is an envelope sealed for a conversation shared
   * with the proposed referent.
   * @param {object} body An OpenReferral.
   * @returns {Promise<any>} the Referral
   */
  open: (body) => request(routes.REFERRAL_OPEN, [], body),
  /**
   * The referrals this account may see, newest first, and whether it may refer.
   * @returns {Promise<{ may_refer: boolean, only_acte?: boolean, referrals: any[] }>}
   */
  list: () => request(routes.REFERRALS, []),
  /**
   * Accepts: a case opens with the referent.
   * @param {string} id
   * @param {{ referent_user_id?: string, group_id?: string }} body
   * @returns {Promise<any>}
   */
  accept: (id, body) => request(routes.REFERRAL_ACCEPT, [id], body),
  /**
   * Declines with a reason from the closed list.
   * @param {string} id
   * @param {{ reason: string, note?: object }} body
   * @returns {Promise<any>}
   */
  decline: (id, body) => request(routes.REFERRAL_DECLINE, [id], body),
  /**
   * `followed`, then `closed`.
   * @param {string} id
   * @param {string} status
   * @returns {Promise<any>}
   */
  advance: (id, status) => request(routes.REFERRAL_STATUS, [id], { status }),
};

/** Meetings of the working groups (docs/PROTOCOL.md §18). */
export const meetings = {
  /**
   * Schedules a meeting of a group with its agenda (case channel ids).
   * @param {{ group_id: string, scheduled_at: number, agenda: string[] }} body
   * @returns {Promise<any>} the Meeting
   */
  schedule: (body) => request(routes.MEETING_SCHEDULE, [], body),
  /**
   * The meetings of this account's groups, soonest first.
   * @returns {Promise<any[]>}
   */
  list: () => request(routes.MEETINGS, []),
  /**
   * @param {string} id
   * @returns {Promise<any>}
   */
  get: (id) => request(routes.MEETING, [id]),
  /**
   * @param {string} id
   * @param {string[]} attendees account ids of the members present
   * @returns {Promise<any>}
   */
  attendance: (id, attendees) => request(routes.MEETING_ATTENDANCE, [id], { attendees }),
  /**
   * The decision about one situation; the note is an envelope sealed for the group.
   * @param {string} id
   * @param {{ case_id: string, decision: string, note?: object, next_review_at?: number }} body
   * @returns {Promise<any>}
   */
  decide: (id, body) => request(routes.MEETING_DECISIONS, [id], body),
  /**
   * @param {string} id
   * @param {object} minutes an envelope sealed for the group
   * @returns {Promise<any>}
   */
  minutes: (id, minutes) => request(routes.MEETING_MINUTES, [id], { minutes }),
  /**
   * @param {string} id
   * @returns {Promise<any>}
   */
  close: (id) => request(routes.MEETING_CLOSE, [id], {}),
  /**
   * Changes the agenda of a meeting not held yet (decided situations stay).
   * @param {string} id
   * @param {string[]} agenda case channel ids, in order
   * @returns {Promise<any>}
   */
  changeAgenda: (id, agenda) => request(routes.MEETING_AGENDA, [id], { agenda }),
  /**
   * Cancels a meeting nothing was decided in yet: it is deleted.
   * @param {string} id
   * @returns {Promise<void>}
   */
  cancel: (id) => request(routes.MEETING_CANCEL, [id], {}),
};

/** The charter (CHARTER.md C2). */
export const charter = {
  /** @returns {Promise<CharterStatus>} */
  status: () => request(routes.CHARTER, []),
  /** @param {number} version */
  accept: (version) => request(routes.CHARTER_ACCEPT, [], { version }),
};

/** The auditor's console (docs/ARCHITECTURE.md). */
export const audit = {
  /**
   * @param {Record<string, string>} filters
   * @returns {Promise<import('./types.js').AuditPage>}
   */
  events: (filters) => request(routes.AUDIT_EVENTS, [], undefined, { query: filters }),
  /**
   * Events per UTC day, counted by the server over the whole log.
   * @param {Record<string, string>} filters
   * @returns {Promise<{ days: { day: string, count: number }[] }>}
   */
  daily: (filters) => request(routes.AUDIT_DAILY, [], undefined, { query: filters }),
  /** @returns {Promise<import('./types.js').AuditVerify>} */
  verify: () => request(routes.AUDIT_VERIFY, []),
  /**
   * The export address for the filters, for a download link.
   * @param {Record<string, string>} filters
   * @param {'csv' | 'json'} format
   */
  exportUrl: (filters, format) => urlOf(routes.AUDIT_EXPORT, [], { ...filters, format }),
};

/**
 * Uploads an encrypted blob with upload progress (fetch has none).
 * @param {string} channelId
 * @param {Uint8Array<ArrayBuffer>} blob
 * @param {(fraction: number) => void} onProgress
 * @returns {Promise<{ id: string, size: number }>}
 */
export function uploadAttachment(channelId, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(routes.ATTACHMENT_UPLOAD.method, urlOf(routes.ATTACHMENT_UPLOAD, [channelId]));
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('error', () => reject(new ApiError('network_error', messageFor('network_error'), 0)));
    xhr.addEventListener('load', () => {
      /** @type {any} */
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // handled below
      }
      if (xhr.status >= 200 && xhr.status < 300 && data) {
        resolve(data);
        return;
      }
      const code = typeof data?.error?.code === 'string' ? data.error.code : codeOfStatus(xhr.status);
      reject(new ApiError(code, messageFor(code, data?.error?.message), xhr.status));
    });
    xhr.send(blob);
  });
}

/**
 * Downloads a blob with progress.
 * @param {string} id
 * @param {number} expectedSize Approximate, for the progress bar when no length is sent.
 * @param {(fraction: number) => void} onProgress
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function downloadAttachment(id, expectedSize, onProgress) {
  let response;
  try {
    response = await fetch(urlOf(routes.ATTACHMENT, [id]), { method: routes.ATTACHMENT.method, credentials: 'same-origin' });
  } catch {
    throw new ApiError('network_error', messageFor('network_error'), 0);
  }
  if (!response.ok || !response.body) {
    const code = codeOfStatus(response.status);
    throw new ApiError(code, messageFor(code), response.status);
  }
  const total = Number(response.headers.get('content-length')) || expectedSize || 1;
  const reader = response.body.getReader();
  /** @type {Uint8Array[]} */
  const parts = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    onProgress(Math.min(1, received / total));
  }
  const out = new Uint8Array(received);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
