// Shapes of the REST API's JSON (shared/src/protocol/v1/*.rs), for JSDoc type checking.
// This module exports no value: views import its types with `import('../types.js')`.

/**
 * @typedef {'member' | 'coordinator' | 'admin' | 'auditor' | 'external'} Role
 *
 * @typedef {object} Attributes
 * @property {boolean} bound_by_professional_secrecy Required for `child_protection` channels.
 * @property {boolean} social_action_professional Required for `shared_secret_social` channels.
 *
 * @typedef {object} InstitutionRef
 * @property {string} id
 * @property {string} name
 *
 * @typedef {object} Me
 * @property {string} id
 * @property {string} login
 * @property {string} display_name
 * @property {InstitutionRef} institution
 * @property {Role} role
 * @property {Attributes} attributes
 *
 * @typedef {object} TotpEnrolment
 * @property {string} otpauth_uri
 * @property {string} secret_base32
 * @property {string} qr_svg The QR code as SVG markup: shown through an <img>, never parsed into the page.
 *
 * @typedef {object} LoginChallenge
 * @property {string} challenge
 * @property {'totp' | 'totp_enrolment'} next
 * @property {TotpEnrolment | null} enrolment
 *
 * @typedef {object} SessionOpened
 * @property {string} session_id
 * @property {string | null} token Always null for the browser: the session lives in an HttpOnly cookie.
 * @property {number} expires_at Unix milliseconds.
 * @property {Me} me
 *
 * @typedef {object} SessionInfo
 * @property {string} id
 * @property {string} kind `browser` or `bearer`.
 * @property {number} created_at
 * @property {number} last_seen_at
 * @property {number} expires_at
 * @property {string | null} ip
 * @property {string | null} user_agent
 * @property {boolean} current
 *
 * @typedef {object} Institution
 * @property {string} id
 * @property {string} name
 * @property {number} created_at
 *
 * @typedef {object} Account
 * @property {string} id
 * @property {string} login
 * @property {string} display_name
 * @property {string} institution_id
 * @property {Role} role
 * @property {Attributes} attributes
 * @property {boolean} disabled
 * @property {boolean} locked
 * @property {boolean} totp_enrolled
 * @property {number} created_at
 *
 * @typedef {object} AccountWithPassword
 * @property {Account} account
 * @property {string} password Shown once to the admin, then forgotten.
 *
 * @typedef {object} CreateAccount
 * @property {string} login
 * @property {string} display_name
 * @property {string} institution_id
 * @property {Role} role
 * @property {Attributes} attributes
 *
 * @typedef {object} UpdateAccount
 * @property {Role} [role]
 * @property {Attributes} [attributes]
 * @property {string} [display_name]
 */

// What the shell hands to each view.

/**
 * @typedef {object} Shell
 * @property {(path: string, options?: { replace?: boolean }) => void} navigate Shows another screen.
 * @property {(me: Me | null) => void} setMe Records who is logged in (null: nobody) and updates the header.
 *
 * @typedef {Shell & { me: Me }} UserShell What views that need a logged-in account receive.
 */

export {};
