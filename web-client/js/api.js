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
  // The charter gate (CHARTER.md C2, C9, C11).
  charter_not_published:
    'Aucune charte n’a encore été publiée : les canaux confidentiels restent fermés jusqu’à sa publication par l’administrateur.',
  charter_not_accepted: 'Acceptez la version en vigueur de la charte d’échange d’informations pour accéder aux canaux.',
  rules_not_published: 'Le règlement intérieur de ce groupe n’a pas encore été publié par sa coordination.',
  rules_not_accepted: 'Acceptez la version en vigueur du règlement intérieur de ce groupe pour y accéder.',
  archive_reason_required: 'Ce dossier est archivé : indiquez par écrit le motif de sa consultation.',
  channel_closed: 'Ce canal est en lecture seule.',
  session_ended: 'La séance d’analyse de pratiques est terminée : elle est désormais en lecture seule.',
  session_not_started: 'La séance d’analyse de pratiques n’a pas encore commencé.',
  regime_not_met: 'Cette personne ne remplit pas les conditions du régime juridique du canal.',
  institution_not_allowed: 'L’institution de cette personne n’est pas autorisée dans ce canal.',
  // Keys and channels.
  identity_in_use: 'Votre clé d’identité ne peut pas changer tant que des appareils l’utilisent.',
  identity_missing: 'Publiez d’abord votre clé d’identité.',
  device_exists: 'Cet appareil est déjà enregistré.',
  invalid_certificate: 'Le certificat de l’appareil n’est pas valide.',
  epoch_conflict: 'Un autre membre vient de renouveler la clé du canal ; la sienne est utilisée.',
  invalid_epoch_keys:
    'La liste des appareils du canal a changé pendant le renouvellement de sa clé. Réessayez.',
  version_conflict: 'Un autre appareil a modifié cet élément entre-temps. Rechargez puis réessayez.',
  version_outdated: 'Une nouvelle version a été publiée entre-temps : lisez-la puis acceptez-la.',
  version_exists: 'Une autre version vient d’être publiée ; rechargez puis réessayez.',
  no_charter: 'Aucune charte n’a encore été publiée.',
  no_rules: 'Aucun règlement intérieur n’a encore été publié pour ce groupe.',
  rules_inherited: 'Ce canal suit le règlement intérieur de son groupe de travail : publiez-le dans le groupe.',
  invalid_text: 'Le texte doit être non vide et ne pas dépasser 100 Ko.',
  role_cannot_join: 'Ce compte ne peut pas être membre d’un canal.',
  already_member: 'Cette personne est déjà membre.',
  reason_required: 'Indiquez le motif du retrait.',
  invalid_channel: 'Ce canal ne peut pas être créé ainsi.',
  use_dedicated_endpoint: 'Les dossiers et les séances d’analyse de pratiques ont leur propre formulaire.',
  invalid_group: 'Le groupe indiqué n’est pas un groupe de travail dont vous êtes membre.',
  invalid_dates: 'Les dates indiquées ne sont pas cohérentes.',
  invalid_referent: 'Le référent doit être membre du dossier.',
  note_too_long: 'Texte trop long : 280 caractères au plus, sans nom ni donnée d’infraction ou de santé.',
  invalid_reason: 'Indiquez le motif de la consultation (10 à 500 caractères).',
  not_a_case: 'Cette action ne concerne que les dossiers.',
  already_archived: 'Ce dossier est déjà archivé.',
  limit_can_only_move_earlier: 'La date limite de conservation ne peut être qu’avancée.',
  unknown_member: 'La personne indiquée n’est pas membre du dossier.',
  not_member: 'Vous n’êtes pas membre de ce canal.',
  device_revoked: 'Cet appareil a été révoqué par l’administrateur. Configurez-le à nouveau.',
  unavailable: 'Service momentanément indisponible ; réessayez dans un instant.',
  rate_limited: 'Trop de messages en peu de temps ; patientez un instant.',
  invalid_envelope: 'Le message n’a pas pu être envoyé : il ne correspond pas à ce canal ou à cet appareil.',
  bad_signature: 'Le message n’a pas pu être envoyé : sa signature n’est pas valide.',
  malformed_frame: 'Le serveur n’a pas compris une demande de ce navigateur. Rechargez la page.',
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
 * @param {{ loginStep?: boolean, headers?: Record<string, string>, onResponse?: (response: Response) => void }} [options]
 *   Login steps answer `unauthenticated`-like codes as part of their normal flow: they
 *   must not trigger the session-lost handler. `onResponse` sees the headers (ETag).
 * @returns {Promise<any>}
 */
async function request(method, path, body, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', ...options.headers };
  /** @type {RequestInit} */
  const init = { method, credentials: 'same-origin', headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
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
  /**
   * Publishes a new charter version: everyone must accept it again (CHARTER.md C2).
   * @param {string} text Markdown, in French.
   * @returns {Promise<import('./types.js').CharterVersion>}
   */
  publishCharter: (text) => request('POST', '/admin/charters', { text }),
};

// ---- Keys, channels, charter, cases, audit (typed in types.js) -------------------------

/** @typedef {import('./types.js').UserKeys} UserKeys */
/** @typedef {import('./types.js').Channel} Channel */
/** @typedef {import('./types.js').ChannelDetail} ChannelDetail */
/** @typedef {import('./types.js').EpochState} EpochState */
/** @typedef {import('./types.js').HistoryPage} HistoryPage */
/** @typedef {import('./types.js').DirectoryEntry} DirectoryEntry */
/** @typedef {import('./types.js').CharterStatus} CharterStatus */
/** @typedef {import('./types.js').RulesStatus} RulesStatus */

/** The key directory and the key backup (docs/PROTOCOL.md §5, §10). */
export const keys = {
  /**
   * @param {string} identityKey base64url
   * @returns {Promise<{ version: number }>}
   */
  publishIdentity: (identityKey) => request('PUT', '/keys/identity', { identity_key: identityKey }),
  /**
   * @param {unknown} certificate
   * @param {string} name
   */
  registerDevice: (certificate, name) => request('POST', '/keys/devices', { certificate, name }),
  /** @param {string} id */
  revokeDevice: (id) => request('DELETE', `/keys/devices/${seg(id)}`),
  /**
   * @param {string} userId
   * @returns {Promise<UserKeys>}
   */
  user: (userId) => request('GET', `/keys/users/${seg(userId)}`),
  /**
   * The encrypted backup and its version, or null when there is none.
   * @returns {Promise<{ version: number, data: unknown } | null>}
   */
  backup: async () => {
    try {
      return await request('GET', '/keys/backup');
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
    await request('PUT', '/keys/backup', { data }, {
      headers: version === null ? { 'if-none-match': '*' } : { 'if-match': `"${version}"` },
      onResponse: (response) => {
        etag = response.headers.get('etag');
      },
    });
    const parsed = etag ? Number(String(etag).replace(/"/g, '')) : NaN;
    return Number.isSafeInteger(parsed) ? parsed : (version ?? 0) + 1;
  },
};

/** Channels, membership, epochs, history and attachments. */
export const channels = {
  /** @returns {Promise<Channel[]>} */
  list: () => request('GET', '/channels'),
  /**
   * @param {string} id
   * @returns {Promise<ChannelDetail>}
   */
  detail: (id) => request('GET', `/channels/${seg(id)}`),
  /**
   * @param {{ kind: 'working_group' | 'direct', name: string, regime: string, institutions: string[], members: string[] }} body
   * @returns {Promise<Channel>}
   */
  create: (body) => request('POST', '/channels', body),
  /**
   * @param {string} id
   * @param {string} userId
   */
  addMember: (id, userId) => request('POST', `/channels/${seg(id)}/members`, { user_id: userId }),
  /**
   * @param {string} id
   * @param {string} userId
   * @param {string} reason Logged (CHARTER.md C3).
   */
  removeMember: (id, userId, reason) => request('DELETE', `/channels/${seg(id)}/members/${seg(userId)}`, { reason }),
  /**
   * @param {string} id
   * @returns {Promise<EpochState>}
   */
  epoch: (id) => request('GET', `/channels/${seg(id)}/epoch`),
  /**
   * @param {string} id
   * @param {number} epoch
   * @param {unknown[]} wraps
   */
  publishEpoch: (id, epoch, wraps) => request('POST', `/channels/${seg(id)}/epochs`, { epoch, keys: wraps }),
  /**
   * @param {string} id
   * @param {string} deviceId
   * @returns {Promise<{ keys: unknown[] }>}
   */
  keys: (id, deviceId) => request('GET', `/channels/${seg(id)}/keys?device_id=${seg(deviceId)}`),
  /**
   * @param {string} id
   * @param {number} afterSeq
   * @param {number} limit
   * @returns {Promise<HistoryPage>}
   */
  history: (id, afterSeq, limit) => request('GET', `/channels/${seg(id)}/messages?after_seq=${afterSeq}&limit=${limit}`),
  /** @returns {Promise<DirectoryEntry[]>} */
  directory: () => request('GET', '/directory'),
  /**
   * @param {string} id
   * @returns {Promise<RulesStatus>}
   */
  rules: (id) => request('GET', `/channels/${seg(id)}/rules`),
  /**
   * @param {string} id
   * @param {string} text
   */
  publishRules: (id, text) => request('POST', `/channels/${seg(id)}/rules`, { text }),
  /**
   * @param {string} id
   * @param {number} version
   */
  acceptRules: (id, version) => request('POST', `/channels/${seg(id)}/rules/accept`, { version }),
  /**
   * @param {string} id
   * @param {string} reason
   * @returns {Promise<{ channel_id: string, expires_at: number }>}
   */
  openArchived: (id, reason) => request('POST', `/channels/${seg(id)}/open-archived`, { reason }),
  /**
   * @param {string} id
   * @param {{ end_date: number, destroy_by?: number | null }} body
   */
  archive: (id, body) => request('POST', `/channels/${seg(id)}/archive`, body),
};

/** Cases and practice sessions (shared/src/protocol/v1/cases.rs). */
export const cases = {
  /**
   * @param {{ programme: string, reporting_institution: string, regime: string, group_id?: string | null, institutions: string[], members: string[] }} body
   * @returns {Promise<{ channel: Channel }>}
   */
  create: (body) => request('POST', '/cases', body),
  /**
   * @param {{ name: string, starts_at: number, ends_at: number, group_id?: string | null, institutions: string[], members: string[] }} body
   * @returns {Promise<{ channel: Channel, facilitator: string, rule: string }>}
   */
  createPracticeSession: (body) => request('POST', '/practice-sessions', body),
  /**
   * The case's record (CaseView).
   * @param {string} id
   * @returns {Promise<any>}
   */
  get: (id) => request('GET', `/cases/${seg(id)}`),
  /**
   * How the person was informed, or why not (CHARTER.md C13).
   * @param {string} id
   * @param {object} record An InformationRecord.
   */
  recordInformation: (id, record) => request('PUT', `/cases/${seg(id)}/information`, record),
  /**
   * @param {string} id
   * @returns {Promise<{ channel: Channel, facilitator: string, rule: string }>}
   */
  practiceSession: (id) => request('GET', `/practice-sessions/${seg(id)}`),
};

/** The charter (CHARTER.md C2). */
export const charter = {
  /** @returns {Promise<CharterStatus>} */
  status: () => request('GET', '/charter'),
  /** @param {number} version */
  accept: (version) => request('POST', '/charter/accept', { version }),
};

/** The auditor's console (DESIGN.md §7). */
export const audit = {
  /**
   * @param {Record<string, string>} filters
   * @returns {Promise<import('./types.js').AuditPage>}
   */
  events: (filters) => request('GET', `/audit/events?${new URLSearchParams(filters)}`),
  /** @returns {Promise<import('./types.js').AuditVerify>} */
  verify: () => request('GET', '/audit/verify'),
  /**
   * The export address for the filters, for a download link.
   * @param {Record<string, string>} filters
   * @param {'csv' | 'json'} format
   */
  exportUrl: (filters, format) => `${BASE}/audit/export?${new URLSearchParams({ ...filters, format })}`,
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
    xhr.open('POST', `${BASE}/channels/${seg(channelId)}/attachments`);
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
    response = await fetch(`${BASE}/attachments/${seg(id)}`, { credentials: 'same-origin' });
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
