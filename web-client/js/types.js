// Shapes of the REST API's JSON (shared/src/protocol/v1/*.rs), for JSDoc type checking.
// This module exports no value: views import its types with `import('../types.js')`.

/**
 * @typedef {'member' | 'coordinator' | 'admin' | 'auditor' | 'external'} Role
 *
 * @typedef {object} Attributes
 * @property {boolean} bound_by_professional_secrecy Required for `child_protection` channels.
 * @property {boolean} social_action_professional Required for `shared_secret_social` channels.
 *
 * @typedef {{ kind: 'acte', school_institution: string, excluded_from: number, excluded_until: number, host_institution: string }
 *   | { kind: 'chantier_educatif', starts_on: number, ends_on: number }} LocalScheme
 *   A case's local scheme (shared/src/protocol/v1/cases.rs LocalScheme): institution ids
 *   and days (unix ms, midnight UTC).
 *
 * @typedef {object} AnnualReport The annual report (server/src/app/reports.rs): counts only.
 * @property {number} year
 * @property {number} working_groups
 * @property {number} working_groups_created
 * @property {number} cases_opened
 * @property {number} cases_closed
 * @property {number} practice_sessions
 * @property {number} [direct_conversations]
 * @property {Record<string, number>} members_by_institution
 * @property {number} charter_acceptances
 * @property {number} exclusions
 * @property {{ acte_cases_opened: number, chantier_cases_opened: number }} [schemes]
 * @property {{ by_category: Record<string, number>, by_status: Record<string, number> }} [field_reports]
 *   The mediators' field reports: filed by category, and how many reached each status.
 * @property {{ by_reason: Record<string, number>, by_outcome: Record<string, number> }} [referrals]
 *   The intervenant social's referrals: opened by reason, and their outcomes.
 * @property {{ held: number, situations_reviewed: number, by_decision: Record<string, number> }} [meetings]
 *   The working groups' meetings held, the situations they reviewed and their decisions.
 * @property {{ security_keys_registered: number, security_keys_removed: number, security_key_sign_ins: number, security_key_failures: number, mfa_resets: number }} security
 *
 * @typedef {object} InstitutionRef
 * @property {string} id
 * @property {string} name
 *
 * @typedef {object} NoticeSettings Offline notices by e-mail (`GET /api/v1/me/notices`).
 * @property {boolean} available The server sends them at all.
 * @property {string | null} email Where they go, set by the administrator.
 * @property {boolean} enabled The person accepts them.
 *
 * @typedef {object} Me
 * @property {string} id
 * @property {string} login
 * @property {string} display_name
 * @property {InstitutionRef} institution
 * @property {Role} role
 * @property {Attributes} attributes
 * @property {boolean} [must_register_security_key] The role requires a key and the account has none yet.
 * @property {boolean} [password_change_required] The password is provisional (generated
 *   by an administrator): nothing else is possible until it is changed.
 * @property {string[]} [coordinated_groups] The working groups the account is a named
 *   coordinator of (CHARTER.md C1).
 *
 * @typedef {object} WebauthnCeremony
 * @property {string} ceremony_id
 * @property {{ publicKey: any }} options For `navigator.credentials`, binary fields in base64url.
 * @property {number} expires_at
 *
 * @typedef {object} SecurityKey
 * @property {string} id
 * @property {string} name
 * @property {boolean} passwordless Signs in without the password (a passkey).
 * @property {string} aaguid
 * @property {number} created_at
 * @property {number | null} last_used_at
 *
 * @typedef {object} TotpEnrolment
 * @property {string} otpauth_uri
 * @property {string} secret_base32
 * @property {string} qr_svg The QR code as SVG markup: shown through an <img>, never parsed into the page.
 *
 * @typedef {object} LoginChallenge
 * @property {string} challenge
 * @property {'totp' | 'totp_enrolment' | 'webauthn'} next
 * @property {TotpEnrolment | null} enrolment
 * @property {WebauthnCeremony} [webauthn] When `next` is `webauthn`.
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
 * @property {string} kind One of INSTITUTION_KIND_LABELS' keys.
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

// Keys, channels, charter and audit (shared/src/protocol/v1/{keys,channels,charter}.rs).

/**
 * @typedef {'working_group' | 'case' | 'practice_session' | 'direct'} ChannelKind
 * @typedef {'clspd_confidential' | 'shared_secret_social' | 'child_protection'} LegalRegime
 *
 * @typedef {object} DeviceInfo
 * @property {any} certificate
 * @property {string} name
 * @property {number} created_at
 * @property {number | null} revoked_at
 * @property {unknown} [prekey] Its current signed prekey (PROTOCOL.md §23), verified by
 *   the client before use.
 *
 * @typedef {object} LinkRequest A new device asking to join the account (§5.5.1).
 * @property {string} id
 * @property {import('./crypto/identity.js').CertificateRequest} request
 * @property {string} name
 * @property {'pending' | 'linked' | 'refused' | 'expired'} status
 * @property {number} created_at
 * @property {number} expires_at
 *
 * @typedef {object} UserKeys
 * @property {string} user_id
 * @property {string | null} identity_key
 * @property {number} identity_version
 * @property {DeviceInfo[]} devices
 *
 * @typedef {object} Channel
 * @property {string} id
 * @property {ChannelKind} kind
 * @property {string} name
 * @property {LegalRegime} regime
 * @property {string} status `active`, `archived` or `destroyed`.
 * @property {string[]} institutions
 * @property {number} epoch
 * @property {number} last_seq
 * @property {number} created_at
 * @property {string | null} [group_id]
 * @property {number | null} [starts_at]
 * @property {number | null} [ends_at]
 * @property {number | null} [ended_at]
 * @property {number | null} [destroy_by]
 * @property {number} [read_seq] The caller's read cursor (channel list only).
 * @property {SealedTitle | null} [title] The title its members typed, sealed for them (§24).
 *
 * @typedef {object} SealedTitle
 * @property {any} envelope
 * @property {string} sealed_by
 *
 * @typedef {object} Member
 * @property {string} user_id
 * @property {string} display_name
 * @property {InstitutionRef} institution
 * @property {Role} role
 * @property {number} added_at
 * @property {number} [read_seq] the last message they marked read
 *
 * @typedef {object} ChannelDetail
 * @property {Channel} channel
 * @property {Member[]} members
 *
 * @typedef {object} DeviceRef
 * @property {string} user_id
 * @property {string} device_id
 *
 * @typedef {object} EpochState
 * @property {string} channel_id
 * @property {number} epoch
 * @property {boolean} rotation_required
 * @property {DeviceRef[]} devices
 *
 * @typedef {object} StoredMessage
 * @property {string} channel_id
 * @property {number} seq
 * @property {string} sender
 * @property {any} envelope
 * @property {number} ts
 *
 * @typedef {object} HistoryPage
 * @property {StoredMessage[]} messages
 * @property {boolean} has_more
 *
 * @typedef {object} PersonRef
 * @property {string} user_id
 * @property {string} [display_name]
 *
 * @typedef {object} MembershipEvent One change of a channel's membership (PROTOCOL.md §21).
 * @property {string} channel_id
 * @property {number} seq its place in the channel's membership history
 * @property {number} after_seq the last message before it (0: before the first)
 * @property {'created' | 'added' | 'removed' | 'left' | 'role_changed' | 'device_added'} change
 * @property {PersonRef} member
 * @property {PersonRef} [actor] absent when the server made the change
 * @property {'coordinator' | 'regime_lost'} [reason] for `removed`
 * @property {'coordinator' | 'member'} [role] for `role_changed`
 * @property {string} [device_id] for `device_added`
 * @property {number} at unix ms
 *
 * @typedef {object} MembershipPage
 * @property {MembershipEvent[]} events
 * @property {boolean} has_more
 *
 * @typedef {object} DirectoryEntry
 * @property {string} user_id
 * @property {string} display_name
 * @property {InstitutionRef} institution
 * @property {Role} role
 * @property {boolean} bound_by_professional_secrecy
 * @property {boolean} social_action_professional
 *
 * @typedef {object} CharterVersion
 * @property {number} version
 * @property {string} text
 * @property {number} published_at
 *
 * @typedef {object} CharterStatus
 * @property {CharterVersion | null} current
 * @property {number | null} accepted_version
 * @property {number | null} accepted_at
 * @property {{ channel_id: string, version: number | null }[]} pending_rules
 *
 * @typedef {object} RulesStatus
 * @property {string} channel_id
 * @property {boolean} required
 * @property {string | null} owner_channel_id
 * @property {{ channel_id: string, version: number, text: string, published_by: string, published_at: number } | null} current
 * @property {number | null} accepted_version
 * @property {number | null} accepted_at
 *
 * @typedef {object} AuditEvent
 * @property {number} seq
 * @property {string} time
 * @property {number} time_ms
 * @property {{ user_id: string | null, login: string | null, institution_id: string | null, session_id: string | null, ip: string | null }} actor
 * @property {string} action
 * @property {string | null} target
 * @property {string} outcome
 * @property {any} details
 * @property {string} hash
 *
 * @typedef {object} AuditPage
 * @property {AuditEvent[]} events
 * @property {number | null} next_after_seq
 * @property {number} [next_before_seq] Newest first (`order=desc`): the next, older, page.
 * @property {number} total
 * @property {Record<string, string>} names What the page's ids stand for (accounts,
 *   institutions, channels), resolved by the server.
 *
 * @typedef {object} AuditVerify
 * @property {boolean} intact
 * @property {number} events_checked
 * @property {number} checkpoints_checked
 * @property {number | null} first_seq
 * @property {number | null} last_seq
 * @property {string} key_id
 * @property {{ seq: number, kind: string, detail: string } | null} first_break
 * @property {{ seq: number, time: string } | null} last_checkpoint
 */

// What the shell hands to each view.

/**
 * @typedef {object} Shell
 * @property {(path: string, options?: { replace?: boolean }) => void} navigate Shows another screen.
 * @property {(me: Me | null) => void} setMe Records who is logged in (null: nobody) and updates the header.
 * @property {(why: string, late?: boolean) => void} endSession The server ended this
 *   session's access (account disabled, session closed, device revoked): back to the
 *   login screen, which shows `why` (French). `late`: said by the socket of a session this
 *   page already left on a refused request; it only makes the reason shown more precise.
 *
 * @typedef {Shell & { me: Me }} UserShell What views that need a logged-in account receive.
 */

export {};
