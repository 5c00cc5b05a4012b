// The REST client: one function per endpoint of /api/v1, and the French message of every
// error code. Views never call fetch themselves.
//
// The session is an HttpOnly cookie the page cannot read; the browser sends it, and the
// `Origin` header the server requires on state-changing requests, by itself.

/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').LoginChallenge} LoginChallenge */
/** @typedef {import('./types.js').SessionOpened} SessionOpened */
/** @typedef {import('./types.js').SessionInfo} SessionInfo */
/** @typedef {import('./types.js').Institution} Institution */
/** @typedef {import('./types.js').Account} Account */
/** @typedef {import('./types.js').AccountWithPassword} AccountWithPassword */
/** @typedef {import('./types.js').CreateAccount} CreateAccount */
/** @typedef {import('./types.js').UpdateAccount} UpdateAccount */

const BASE = '/api/v1';

/**
 * What people read for each error code. The server's own French message is kept for
 * `bad_request` (it names the field) and for codes this client does not know yet.
 * @type {Readonly<Record<string, string>>}
 */
export const ERROR_MESSAGES = Object.freeze({
  bad_request: 'La demande contient une information invalide. Vérifiez le formulaire et réessayez.',
  unauthenticated: 'Votre session a expiré ou a été fermée. Reconnectez-vous pour continuer.',
  invalid_credentials: 'Identifiant ou mot de passe incorrect.',
  invalid_totp:
    'Code de vérification incorrect ou déjà utilisé. Attendez le code suivant de votre application, puis réessayez.',
  invalid_challenge:
    'La connexion a expiré. Saisissez à nouveau votre identifiant et votre mot de passe.',
  account_locked:
    'Ce compte est verrouillé après plusieurs échecs de connexion. Contactez l’administrateur de Passerelle pour le déverrouiller.',
  account_disabled: 'Ce compte est désactivé. Contactez l’administrateur de Passerelle.',
  forbidden: 'Votre rôle ne vous permet pas d’effectuer cette action.',
  bad_origin:
    'Requête refusée : elle ne vient pas de l’adresse officielle de Passerelle. Ouvrez Passerelle depuis son adresse habituelle et réessayez.',
  not_found: 'Élément introuvable : il a peut-être été supprimé entre-temps. Rechargez la page.',
  institution_exists: 'Une institution porte déjà ce nom.',
  login_exists: 'Cet identifiant est déjà utilisé par un autre compte.',
  payload_too_large: 'Le contenu envoyé est trop volumineux.',
  weak_password: 'Le mot de passe doit comporter au moins 12 caractères.',
  unknown_institution: 'Institution inconnue : rechargez la page et choisissez-en une dans la liste.',
  invalid_login:
    'L’identifiant doit comporter de 3 à 64 caractères : lettres, chiffres, « . », « - » ou « _ ».',
  invalid_name: 'Le nom doit comporter de 1 à 200 caractères.',
  last_admin:
    'Impossible : c’est le dernier compte administrateur actif. Créez d’abord un autre administrateur.',
  too_many_attempts: 'Trop de tentatives. Patientez quelques minutes avant de réessayer.',
  internal_error:
    'Une erreur interne est survenue. Réessayez ; si le problème persiste, prévenez l’administrateur.',
  // Client-side codes: the request never got an answer, or not a readable one.
  network_error:
    'Impossible de joindre le serveur Passerelle. Vérifiez votre connexion au réseau, puis réessayez.',
  unexpected_response: 'Le serveur a donné une réponse inattendue. Rechargez la page et réessayez.',
});

/**
 * The French message for an error code.
 * @param {string} code
 * @param {string} [serverMessage] The `message` the server sent, if any.
 * @returns {string}
 */
export function messageFor(code, serverMessage) {
  if (code === 'bad_request' && serverMessage) return serverMessage;
  return ERROR_MESSAGES[code] ?? serverMessage ?? `Une erreur inattendue est survenue (code « ${code} »).`;
}

/** A failed request, with its stable code and a message for people. */
export class ApiError extends Error {
  /**
   * @param {string} code Stable snake_case code (the server's, or a client-side one).
   * @param {string} message French, ready to show.
   * @param {number} status HTTP status, 0 when no answer came.
   */
  constructor(code, message, status) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

/** @type {(error: ApiError) => void} */
let onSessionLost = () => {};

/**
 * Registers what to do when a request finds the session gone (expired, revoked elsewhere).
 * @param {(error: ApiError) => void} handler
 */
export function onUnauthenticated(handler) {
  onSessionLost = handler;
}

/**
 * Sends one request and decodes the answer.
 * @param {string} method
 * @param {string} path Under /api/v1.
 * @param {unknown} [body] Sent as JSON when given.
 * @param {{ loginStep?: boolean }} [options] Login steps answer `unauthenticated`-like
 *   codes as part of their normal flow: they must not trigger the session-lost handler.
 * @returns {Promise<any>}
 */
async function request(method, path, body, options = {}) {
  /** @type {RequestInit} */
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers = { accept: 'application/json', 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch {
    throw new ApiError('network_error', messageFor('network_error'), 0);
  }
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
  const error = new ApiError(code, messageFor(code, serverMessage), response.status);
  if (code === 'unauthenticated' && !options.loginStep) onSessionLost(error);
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
    case 413:
      return 'payload_too_large';
    case 429:
      return 'too_many_attempts';
    default:
      return status >= 500 ? 'internal_error' : 'unexpected_response';
  }
}

/** @param {string} id */
const seg = (id) => encodeURIComponent(id);

/** Authentication and the caller's own account. */
export const auth = {
  /**
   * The password step.
   * @param {string} login
   * @param {string} password
   * @returns {Promise<LoginChallenge>}
   */
  login: (login, password) => request('POST', '/auth/login', { login, password }, { loginStep: true }),
  /**
   * The TOTP step; opens the session (cookie).
   * @param {string} challenge
   * @param {string} code
   * @returns {Promise<SessionOpened>}
   */
  totp: (challenge, code) => request('POST', '/auth/totp', { challenge, code }, { loginStep: true }),
  /** @returns {Promise<void>} */
  logout: () => request('POST', '/auth/logout'),
  /**
   * The current account, or null when no session is open.
   * @returns {Promise<Me | null>}
   */
  me: async () => {
    try {
      return await request('GET', '/me', undefined, { loginStep: true });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'unauthenticated') return null;
      throw error;
    }
  },
  /** @returns {Promise<SessionInfo[]>} */
  sessions: () => request('GET', '/auth/sessions'),
  /**
   * @param {string} id
   * @returns {Promise<void>}
   */
  revokeSession: (id) => request('DELETE', `/auth/sessions/${seg(id)}`),
  /**
   * @param {string} currentPassword
   * @param {string} newPassword
   * @returns {Promise<void>}
   */
  changePassword: (currentPassword, newPassword) =>
    request('POST', '/me/password', { current_password: currentPassword, new_password: newPassword }),
};

/** The admin console's endpoints (role admin). */
export const admin = {
  /** @returns {Promise<Institution[]>} */
  institutions: () => request('GET', '/admin/institutions'),
  /**
   * @param {string} name
   * @returns {Promise<Institution>}
   */
  createInstitution: (name) => request('POST', '/admin/institutions', { name }),
  /** @returns {Promise<Account[]>} */
  accounts: () => request('GET', '/admin/users'),
  /**
   * @param {CreateAccount} account
   * @returns {Promise<AccountWithPassword>}
   */
  createAccount: (account) => request('POST', '/admin/users', account),
  /**
   * @param {string} id
   * @param {UpdateAccount} changes
   * @returns {Promise<Account>}
   */
  updateAccount: (id, changes) => request('PATCH', `/admin/users/${seg(id)}`, changes),
  /**
   * @param {string} id
   * @returns {Promise<AccountWithPassword>}
   */
  resetPassword: (id) => request('POST', `/admin/users/${seg(id)}/reset-password`),
  /**
   * @param {string} id
   * @returns {Promise<Account>}
   */
  resetMfa: (id) => request('POST', `/admin/users/${seg(id)}/reset-mfa`),
  /**
   * @param {string} id
   * @returns {Promise<Account>}
   */
  disable: (id) => request('POST', `/admin/users/${seg(id)}/disable`),
  /**
   * @param {string} id
   * @returns {Promise<Account>}
   */
  enable: (id) => request('POST', `/admin/users/${seg(id)}/enable`),
  /**
   * @param {string} id
   * @returns {Promise<Account>}
   */
  unlock: (id) => request('POST', `/admin/users/${seg(id)}/unlock`),
};
