// Generated from shared/src/protocol/v1/routes.rs: do not edit. After changing the table,
// write it again with `PASSERELLE_WRITE_ROUTES_JS=1 cargo test -p passerelle-shared routes`.
//
// Every endpoint of the API: its method and its path under API_BASE, `{name}` standing
// for a parameter (api.js fills them in).

/** @typedef {{ method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string }} Route */

/** The prefix of every path below. */
export const API_BASE = '/api/v1';

/** Login, first step: the password. @type {Route} */
export const LOGIN = { method: 'POST', path: '/auth/login' };

/** Login, second step: the TOTP code. @type {Route} */
export const LOGIN_TOTP = { method: 'POST', path: '/auth/totp' };

/** Login, second step: a security key. @type {Route} */
export const LOGIN_WEBAUTHN = { method: 'POST', path: '/auth/webauthn' };

/** Login with a passkey alone: the ceremony's options. @type {Route} */
export const PASSWORDLESS_BEGIN = { method: 'POST', path: '/auth/passwordless' };

/** Login with a passkey alone: the signed answer. @type {Route} */
export const PASSWORDLESS_FINISH = { method: 'POST', path: '/auth/passwordless/finish' };

/** Ends this session. @type {Route} */
export const LOGOUT = { method: 'POST', path: '/auth/logout' };

/** The account's open sessions. @type {Route} */
export const SESSIONS = { method: 'GET', path: '/auth/sessions' };

/** Ends one of the account's sessions. @type {Route} */
export const SESSION_REVOKE = { method: 'DELETE', path: '/auth/sessions/{id}' };

/** An invited person chooses their password. @type {Route} */
export const INVITATION_ACCEPT = { method: 'POST', path: '/invitations/accept' };

/** Who is logged in. @type {Route} */
export const ME = { method: 'GET', path: '/me' };

/** Replaces the account's password. @type {Route} */
export const PASSWORD_CHANGE = { method: 'POST', path: '/me/password' };

/** The account's offline e-mail notices. @type {Route} */
export const NOTICES = { method: 'GET', path: '/me/notices' };

/** Turns the offline e-mail notices on or off. @type {Route} */
export const NOTICES_SET = { method: 'PUT', path: '/me/notices' };

/** The account's security keys and passkeys. @type {Route} */
export const SECURITY_KEYS = { method: 'GET', path: '/me/security-keys' };

/** Registering a security key: the ceremony's options. @type {Route} */
export const SECURITY_KEY_REGISTER_BEGIN = { method: 'POST', path: '/me/security-keys/register' };

/** Registering a security key: the new credential. @type {Route} */
export const SECURITY_KEY_REGISTER_FINISH = { method: 'POST', path: '/me/security-keys/register/finish' };

/** Renames a security key. @type {Route} */
export const SECURITY_KEY_RENAME = { method: 'PATCH', path: '/me/security-keys/{id}' };

/** Removes a security key. @type {Route} */
export const SECURITY_KEY_REMOVE = { method: 'DELETE', path: '/me/security-keys/{id}' };

/** The institutions. @type {Route} */
export const INSTITUTIONS = { method: 'GET', path: '/admin/institutions' };

/** Creates an institution. @type {Route} */
export const INSTITUTION_CREATE = { method: 'POST', path: '/admin/institutions' };

/** Changes an institution. @type {Route} */
export const INSTITUTION_UPDATE = { method: 'PATCH', path: '/admin/institutions/{id}' };

/** The accounts. @type {Route} */
export const ACCOUNTS = { method: 'GET', path: '/admin/users' };

/** Creates an account. @type {Route} */
export const ACCOUNT_CREATE = { method: 'POST', path: '/admin/users' };

/** Creates accounts from a CSV list, all or none. @type {Route} */
export const ACCOUNTS_IMPORT = { method: 'POST', path: '/admin/users/import' };

/** Changes an account. @type {Route} */
export const ACCOUNT_UPDATE = { method: 'PATCH', path: '/admin/users/{id}' };

/** Generates a provisional password for an account. @type {Route} */
export const ACCOUNT_RESET_PASSWORD = { method: 'POST', path: '/admin/users/{id}/reset-password' };

/** Makes an account enrol its second factor again. @type {Route} */
export const ACCOUNT_RESET_MFA = { method: 'POST', path: '/admin/users/{id}/reset-mfa' };

/** Disables an account. @type {Route} */
export const ACCOUNT_DISABLE = { method: 'POST', path: '/admin/users/{id}/disable' };

/** Enables an account again. @type {Route} */
export const ACCOUNT_ENABLE = { method: 'POST', path: '/admin/users/{id}/enable' };

/** Unlocks an account locked after failed logins. @type {Route} */
export const ACCOUNT_UNLOCK = { method: 'POST', path: '/admin/users/{id}/unlock' };

/** Sets an account's e-mail address. @type {Route} */
export const ACCOUNT_SET_EMAIL = { method: 'PUT', path: '/admin/users/{id}/email' };

/** Sends an account its invitation. @type {Route} */
export const ACCOUNT_INVITE = { method: 'POST', path: '/admin/users/{id}/invitation' };

/** Publishes a new version of the charter. @type {Route} */
export const CHARTER_PUBLISH = { method: 'POST', path: '/admin/charters' };

/** The charter in force and whether the account accepted it. @type {Route} */
export const CHARTER = { method: 'GET', path: '/charter' };

/** Accepts the charter in force. @type {Route} */
export const CHARTER_ACCEPT = { method: 'POST', path: '/charter/accept' };

/** A group's internal rules and whether the account accepted them. @type {Route} */
export const CHANNEL_RULES = { method: 'GET', path: '/channels/{id}/rules' };

/** Publishes a group's internal rules. @type {Route} */
export const CHANNEL_RULES_PUBLISH = { method: 'POST', path: '/channels/{id}/rules' };

/** Accepts a group's internal rules. @type {Route} */
export const CHANNEL_RULES_ACCEPT = { method: 'POST', path: '/channels/{id}/rules/accept' };

/** The access log's events, filtered. @type {Route} */
export const AUDIT_EVENTS = { method: 'GET', path: '/audit/events' };

/** Events per day, filtered. @type {Route} */
export const AUDIT_DAILY = { method: 'GET', path: '/audit/daily' };

/** The filtered events as a CSV or JSON file. @type {Route} */
export const AUDIT_EXPORT = { method: 'GET', path: '/audit/export' };

/** Verifies the access log's chain. @type {Route} */
export const AUDIT_VERIFY = { method: 'GET', path: '/audit/verify' };

/** The key the access log's checkpoints are signed with. @type {Route} */
export const AUDIT_PUBLIC_KEY = { method: 'GET', path: '/audit/public-key' };

/** The signed checkpoints. @type {Route} */
export const AUDIT_CHECKPOINTS = { method: 'GET', path: '/audit/checkpoints' };

/** The latest signed checkpoint. @type {Route} */
export const AUDIT_HEAD = { method: 'GET', path: '/audit/head' };

/** Proof that an event is in the log. @type {Route} */
export const AUDIT_INCLUSION_PROOF = { method: 'GET', path: '/audit/proofs/inclusion' };

/** Proof that a checkpoint extends an earlier one. @type {Route} */
export const AUDIT_CONSISTENCY_PROOF = { method: 'GET', path: '/audit/proofs/consistency' };

/** The CLSPD's annual report. @type {Route} */
export const ANNUAL_REPORT = { method: 'GET', path: '/reports/annual' };

/** Publishes the account's identity key. @type {Route} */
export const IDENTITY_PUBLISH = { method: 'PUT', path: '/keys/identity' };

/** Registers a device certificate. @type {Route} */
export const DEVICE_REGISTER = { method: 'POST', path: '/keys/devices' };

/** New keys in one step: the first enrolment (`enrol`), or starting over with the @type {Route} */
export const KEYS_RESET = { method: 'POST', path: '/keys/reset' };

/** Revokes one of the account's devices. @type {Route} */
export const DEVICE_REVOKE = { method: 'DELETE', path: '/keys/devices/{id}' };

/** A colleague's identity key and device certificates. @type {Route} */
export const USER_KEYS = { method: 'GET', path: '/keys/users/{user_id}' };

/** Publishes a device's new signed prekey (PROTOCOL.md §23). @type {Route} */
export const DEVICE_PREKEY_PUBLISH = { method: 'PUT', path: '/keys/devices/{id}/prekey' };

/** The key transparency log's signed head (PROTOCOL.md §25). @type {Route} */
export const KEY_LOG_HEAD = { method: 'GET', path: '/keys/log/head' };

/** A consistency proof between two sizes of the key log. @type {Route} */
export const KEY_LOG_CONSISTENCY = { method: 'GET', path: '/keys/log/consistency' };

/** A user's key log entries with their inclusion proofs. @type {Route} */
export const KEY_LOG_USER = { method: 'GET', path: '/keys/log/users/{user_id}' };

/** A page of the key log's entries, for clients that audit the whole log. @type {Route} */
export const KEY_LOG_ENTRIES = { method: 'GET', path: '/keys/log/entries' };

/** The account's key backup: a paged backup's head or a blob (PROTOCOL.md §10.8). @type {Route} */
export const KEY_BACKUP = { method: 'GET', path: '/keys/backup' };

/** Replaces the account's key backup of the first format (one blob). @type {Route} */
export const KEY_BACKUP_PUT = { method: 'PUT', path: '/keys/backup' };

/** One page of the account's paged key backup, by its hash (PROTOCOL.md §10.8). @type {Route} */
export const KEY_BACKUP_PAGE = { method: 'GET', path: '/keys/backup/pages/{hash}' };

/** Stores one page of the paged key backup under its hash. @type {Route} */
export const KEY_BACKUP_PAGE_PUT = { method: 'PUT', path: '/keys/backup/pages/{hash}' };

/** Replaces the paged key backup's head (`If-Match`), the commit point of a write. @type {Route} */
export const KEY_BACKUP_HEAD_PUT = { method: 'PUT', path: '/keys/backup/head' };

/** Stores epoch keys rewrapped for a newly linked device. @type {Route} */
export const DEVICE_EPOCH_KEYS = { method: 'POST', path: '/keys/devices/{id}/epoch-keys' };

/** A new device asks to join the account. @type {Route} */
export const LINK_REQUEST_CREATE = { method: 'POST', path: '/keys/link-requests' };

/** The account's pending link requests. @type {Route} */
export const LINK_REQUESTS = { method: 'GET', path: '/keys/link-requests' };

/** One link request. @type {Route} */
export const LINK_REQUEST = { method: 'GET', path: '/keys/link-requests/{id}' };

/** Certifies a link request's device. @type {Route} */
export const LINK_REQUEST_APPROVE = { method: 'POST', path: '/keys/link-requests/{id}/approve' };

/** Refuses (or cancels) a link request. @type {Route} */
export const LINK_REQUEST_REFUSE = { method: 'DELETE', path: '/keys/link-requests/{id}' };

/** The account's channels. @type {Route} */
export const CHANNELS = { method: 'GET', path: '/channels' };

/** Creates a channel. @type {Route} */
export const CHANNEL_CREATE = { method: 'POST', path: '/channels' };

/** Which of the given channels were destroyed. @type {Route} */
export const CHANNELS_DESTROYED = { method: 'POST', path: '/channels/destroyed' };

/** A channel, its members and their devices. @type {Route} */
export const CHANNEL = { method: 'GET', path: '/channels/{id}' };

/** Adds a member to a channel. @type {Route} */
export const CHANNEL_MEMBER_ADD = { method: 'POST', path: '/channels/{id}/members' };

/** Removes a member from a channel. @type {Route} */
export const CHANNEL_MEMBER_REMOVE = { method: 'DELETE', path: '/channels/{id}/members/{user_id}' };

/** Leaves a channel. @type {Route} */
export const CHANNEL_LEAVE = { method: 'POST', path: '/channels/{id}/leave' };

/** A channel's current epoch. @type {Route} */
export const CHANNEL_EPOCH = { method: 'GET', path: '/channels/{id}/epoch' };

/** Publishes a channel's new epoch key, wrapped for each member device. @type {Route} */
export const CHANNEL_EPOCH_PUBLISH = { method: 'POST', path: '/channels/{id}/epochs' };

/** A device's wrapped epoch keys of a channel. @type {Route} */
export const CHANNEL_DEVICE_KEYS = { method: 'GET', path: '/channels/{id}/keys' };

/** Acknowledges the wraps a device has stored, so that the server deletes them (§23.3). @type {Route} */
export const CHANNEL_KEYS_DELIVERED = { method: 'POST', path: '/channels/{id}/keys/delivered' };

/** A channel's message history. @type {Route} */
export const CHANNEL_MESSAGES = { method: 'GET', path: '/channels/{id}/messages' };

/** A channel's membership history. @type {Route} */
export const CHANNEL_MEMBERSHIP = { method: 'GET', path: '/channels/{id}/membership' };

/** A channel's signed membership log (PROTOCOL.md §22). @type {Route} */
export const CHANNEL_MEMBERSHIP_LOG = { method: 'GET', path: '/channels/{id}/membership-log' };

/** Starts a channel's signed membership log with its genesis record. @type {Route} */
export const CHANNEL_MEMBERSHIP_LOG_START = { method: 'POST', path: '/channels/{id}/membership-log' };

/** Stores a channel's title, sealed by a member's client (PROTOCOL.md §24). @type {Route} */
export const CHANNEL_TITLE_SEAL = { method: 'PUT', path: '/channels/{id}/title' };

/** A working group's coordinators. @type {Route} */
export const CHANNEL_COORDINATORS = { method: 'GET', path: '/channels/{id}/coordinators' };

/** Sets a working group's coordinators. @type {Route} */
export const CHANNEL_COORDINATORS_SET = { method: 'PUT', path: '/channels/{id}/coordinators' };

/** Uploads an encrypted attachment to a channel. @type {Route} */
export const ATTACHMENT_UPLOAD = { method: 'POST', path: '/channels/{id}/attachments' };

/** Downloads an encrypted attachment. @type {Route} */
export const ATTACHMENT = { method: 'GET', path: '/attachments/{id}' };

/** The directory of colleagues. @type {Route} */
export const DIRECTORY = { method: 'GET', path: '/directory' };

/** The institutions of the directory. @type {Route} */
export const DIRECTORY_INSTITUTIONS = { method: 'GET', path: '/directory/institutions' };

/** Opens a case. @type {Route} */
export const CASE_CREATE = { method: 'POST', path: '/cases' };

/** The templates of the notice given to the person a case is about. @type {Route} */
export const CASE_NOTICE_TEMPLATES = { method: 'GET', path: '/cases/notice-templates' };

/** A case. @type {Route} */
export const CASE = { method: 'GET', path: '/cases/{id}' };

/** Changes a case's follow-up. @type {Route} */
export const CASE_UPDATE = { method: 'PATCH', path: '/cases/{id}' };

/** Records that the person was informed. @type {Route} */
export const CASE_INFORMATION = { method: 'PUT', path: '/cases/{id}/information' };

/** Seals a case's note again under the current epoch, for members who joined since. @type {Route} */
export const CASE_NOTE_RESEAL = { method: 'PUT', path: '/cases/{id}/note' };

/** Archives a case. @type {Route} */
export const CASE_ARCHIVE = { method: 'POST', path: '/channels/{id}/archive' };

/** Opens an archived case, with a reason. @type {Route} */
export const CASE_OPEN_ARCHIVED = { method: 'POST', path: '/channels/{id}/open-archived' };

/** A case's sealed identity, for this device. @type {Route} */
export const CASE_IDENTITY = { method: 'GET', path: '/cases/{id}/identity' };

/** Seals a case's identity for its readers. @type {Route} */
export const CASE_IDENTITY_SEAL = { method: 'PUT', path: '/cases/{id}/identity' };

/** Who may read a case's identity. @type {Route} */
export const CASE_IDENTITY_READERS = { method: 'GET', path: '/cases/{id}/identity/readers' };

/** Opens a practice session. @type {Route} */
export const PRACTICE_SESSION_CREATE = { method: 'POST', path: '/practice-sessions' };

/** A practice session. @type {Route} */
export const PRACTICE_SESSION = { method: 'GET', path: '/practice-sessions/{id}' };

/** Files a field report. @type {Route} */
export const FIELD_REPORT_FILE = { method: 'POST', path: '/field-reports' };

/** The field reports the account may see. @type {Route} */
export const FIELD_REPORTS = { method: 'GET', path: '/field-reports' };

/** A field report. @type {Route} */
export const FIELD_REPORT = { method: 'GET', path: '/field-reports/{id}' };

/** Changes a field report's status. @type {Route} */
export const FIELD_REPORT_STATUS = { method: 'POST', path: '/field-reports/{id}/status' };

/** Opens a referral. @type {Route} */
export const REFERRAL_OPEN = { method: 'POST', path: '/referrals' };

/** The referrals the account may see. @type {Route} */
export const REFERRALS = { method: 'GET', path: '/referrals' };

/** A referral. @type {Route} */
export const REFERRAL = { method: 'GET', path: '/referrals/{id}' };

/** Accepts a referral. @type {Route} */
export const REFERRAL_ACCEPT = { method: 'POST', path: '/referrals/{id}/accept' };

/** Declines a referral. @type {Route} */
export const REFERRAL_DECLINE = { method: 'POST', path: '/referrals/{id}/decline' };

/** Moves a referral on. @type {Route} */
export const REFERRAL_STATUS = { method: 'POST', path: '/referrals/{id}/status' };

/** Schedules a meeting. @type {Route} */
export const MEETING_SCHEDULE = { method: 'POST', path: '/meetings' };

/** The meetings the account may see. @type {Route} */
export const MEETINGS = { method: 'GET', path: '/meetings' };

/** A meeting. @type {Route} */
export const MEETING = { method: 'GET', path: '/meetings/{id}' };

/** Records who attended a meeting. @type {Route} */
export const MEETING_ATTENDANCE = { method: 'POST', path: '/meetings/{id}/attendance' };

/** Records a decision on a situation. @type {Route} */
export const MEETING_DECISIONS = { method: 'POST', path: '/meetings/{id}/decisions' };

/** Writes a meeting's minutes. @type {Route} */
export const MEETING_MINUTES = { method: 'POST', path: '/meetings/{id}/minutes' };

/** Closes a meeting. @type {Route} */
export const MEETING_CLOSE = { method: 'POST', path: '/meetings/{id}/close' };

/** Changes a meeting's agenda. @type {Route} */
export const MEETING_AGENDA = { method: 'POST', path: '/meetings/{id}/agenda' };

/** Cancels a meeting. @type {Route} */
export const MEETING_CANCEL = { method: 'POST', path: '/meetings/{id}/cancel' };

/** The WebSocket endpoint. @type {Route} */
export const WEBSOCKET = { method: 'GET', path: '/ws' };

/** The OpenAPI document. @type {Route} */
export const OPENAPI = { method: 'GET', path: '/openapi.json' };
