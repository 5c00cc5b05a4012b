//! Every endpoint of `/api/v1`, its method and path defined once.
//!
//! The server's router mounts each handler at a [`Route`] of this table, its
//! `#[utoipa::path]` takes the same path (a test checks that the OpenAPI document's
//! operations are exactly this table's), the Rust SDK builds every URL with
//! [`Route::fill`], and the web client reads the generated `web-client/js/routes.js`
//! (a test fails when that file differs from [`javascript_module`]).
//!
//! Paths are relative to [`API_BASE`] and written with `{name}` parameters, the syntax
//! axum 0.8 and OpenAPI share. A route's type counts its parameters (`Route<1>` for
//! `/channels/{id}`), so that filling it with the wrong number of values does not compile.
//!
//! Adding an endpoint: one line in the group of its resource below, `NAME = METHOD
//! "/path";`, with a doc comment saying what it does; then the handler, its
//! `#[utoipa::path]` with `path = routes::NAME.path` and the same method, and the
//! router's `.endpoint(routes::NAME, handler)`.

use std::fmt::Write as _;

/// The prefix every path of this table lives under.
pub const API_BASE: &str = "/api/v1";

/// An HTTP method of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET`: reads, changes nothing.
    Get,
    /// `POST`.
    Post,
    /// `PUT`: replaces.
    Put,
    /// `PATCH`: changes some fields.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name on the wire (`GET`, `POST`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One endpoint: its method and its path under [`API_BASE`], with `N` `{parameters}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route<const N: usize> {
    /// The constant's name in this table (and in `routes.js`).
    pub name: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The path under [`API_BASE`], e.g. `/channels/{id}/members`.
    pub path: &'static str,
}

/// A [`Route`] without its parameter count, to list the whole table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The constant's name in this table.
    pub name: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The path under [`API_BASE`].
    pub path: &'static str,
    /// The first line of the constant's doc comment.
    pub summary: &'static str,
}

impl<const N: usize> Route<N> {
    /// A route; refuses (at compile time, the table being constants) a path that does
    /// not start with `/`, has an empty or unclosed `{parameter}`, or does not have `N`.
    pub const fn new(name: &'static str, method: Method, path: &'static str) -> Self {
        let bytes = path.as_bytes();
        assert!(
            !bytes.is_empty() && bytes[0] == b'/',
            "a route's path starts with /"
        );
        assert!(
            parameter_count(path) == N,
            "a route's type counts its parameters"
        );
        Route { name, method, path }
    }

    /// The path under [`API_BASE`] with each `{parameter}` replaced, in order, by one of
    /// `values`, percent-encoded as one path segment (a `/` in a value cannot reach
    /// another route).
    pub fn fill(&self, values: [&str; N]) -> String {
        let mut out = String::with_capacity(self.path.len() + 16 * N);
        let mut values = values.iter();
        let mut rest = self.path;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            let close = after.find('}').unwrap_or(after.len() - 1);
            if let Some(value) = values.next() {
                out.push_str(&encode_component(value));
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The full path, [`API_BASE`] included, as the OpenAPI document lists it.
    pub fn documented(&self) -> String {
        format!("{API_BASE}{}", self.path)
    }

    /// This route in the table's untyped list.
    pub const fn endpoint(&self, summary: &'static str) -> Endpoint {
        Endpoint {
            name: self.name,
            method: self.method,
            path: self.path,
            summary,
        }
    }
}

/// How many `{parameters}` a path has; `usize::MAX` (which no route's type matches) when
/// a brace is unbalanced or a parameter has no name.
pub const fn parameter_count(path: &str) -> usize {
    let bytes = path.as_bytes();
    let mut count = 0;
    let mut open: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], open) {
            (b'{', None) => open = Some(i),
            (b'}', Some(at)) if i > at + 1 => {
                count += 1;
                open = None;
            }
            (b'{', Some(_)) | (b'}', _) => return usize::MAX,
            _ => {}
        }
        i += 1;
    }
    if open.is_some() {
        return usize::MAX;
    }
    count
}

/// Percent-encodes everything but the unreserved characters of RFC 3986, so that the
/// value stays one path segment (or one query value).
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Declares the table: one constant per endpoint, and [`ALL`] listing them in order.
macro_rules! routes {
    ($(
        $(#[doc = $summary:literal])+
        $name:ident = $method:ident $path:literal;
    )+) => {
        $(
            $(#[doc = $summary])+
            #[doc = concat!("\n\n`", stringify!($method), " /api/v1", $path, "`")]
            pub const $name: Route<{ parameter_count($path) }> =
                Route::new(stringify!($name), route_method!($method), $path);
        )+

        /// Every endpoint of the table, in its order (the OpenAPI document has exactly these).
        pub const ALL: &[Endpoint] = &[$($name.endpoint(first_line!($($summary)+)),)+];
    };
}

/// The method keyword of a table line as a [`Method`].
macro_rules! route_method {
    (GET) => {
        Method::Get
    };
    (POST) => {
        Method::Post
    };
    (PUT) => {
        Method::Put
    };
    (PATCH) => {
        Method::Patch
    };
    (DELETE) => {
        Method::Delete
    };
}

/// The first line of a doc comment.
macro_rules! first_line {
    ($first:literal $($rest:literal)*) => {
        $first
    };
}

routes! {
    // ── Logging in and sessions ─────────────────────────────────────────────────────
    /// Login, first step: the password.
    LOGIN = POST "/auth/login";
    /// Login, second step: the TOTP code.
    LOGIN_TOTP = POST "/auth/totp";
    /// Login, second step: a security key.
    LOGIN_WEBAUTHN = POST "/auth/webauthn";
    /// Login with a passkey alone: the ceremony's options.
    PASSWORDLESS_BEGIN = POST "/auth/passwordless";
    /// Login with a passkey alone: the signed answer.
    PASSWORDLESS_FINISH = POST "/auth/passwordless/finish";
    /// Ends this session.
    LOGOUT = POST "/auth/logout";
    /// The account's open sessions.
    SESSIONS = GET "/auth/sessions";
    /// Ends one of the account's sessions.
    SESSION_REVOKE = DELETE "/auth/sessions/{id}";
    /// An invited person chooses their password.
    INVITATION_ACCEPT = POST "/invitations/accept";

    // ── The logged-in account ───────────────────────────────────────────────────────
    /// Who is logged in.
    ME = GET "/me";
    /// Replaces the account's password.
    PASSWORD_CHANGE = POST "/me/password";
    /// The account's offline e-mail notices.
    NOTICES = GET "/me/notices";
    /// Turns the offline e-mail notices on or off.
    NOTICES_SET = PUT "/me/notices";
    /// The account's security keys and passkeys.
    SECURITY_KEYS = GET "/me/security-keys";
    /// Registering a security key: the ceremony's options.
    SECURITY_KEY_REGISTER_BEGIN = POST "/me/security-keys/register";
    /// Registering a security key: the new credential.
    SECURITY_KEY_REGISTER_FINISH = POST "/me/security-keys/register/finish";
    /// Renames a security key.
    SECURITY_KEY_RENAME = PATCH "/me/security-keys/{id}";
    /// Removes a security key.
    SECURITY_KEY_REMOVE = DELETE "/me/security-keys/{id}";

    // ── Administration ──────────────────────────────────────────────────────────────
    /// The institutions.
    INSTITUTIONS = GET "/admin/institutions";
    /// Creates an institution.
    INSTITUTION_CREATE = POST "/admin/institutions";
    /// Changes an institution.
    INSTITUTION_UPDATE = PATCH "/admin/institutions/{id}";
    /// The accounts.
    ACCOUNTS = GET "/admin/users";
    /// Creates an account.
    ACCOUNT_CREATE = POST "/admin/users";
    /// Creates accounts from a CSV list, all or none.
    ACCOUNTS_IMPORT = POST "/admin/users/import";
    /// Changes an account.
    ACCOUNT_UPDATE = PATCH "/admin/users/{id}";
    /// Generates a provisional password for an account.
    ACCOUNT_RESET_PASSWORD = POST "/admin/users/{id}/reset-password";
    /// Makes an account enrol its second factor again.
    ACCOUNT_RESET_MFA = POST "/admin/users/{id}/reset-mfa";
    /// Disables an account.
    ACCOUNT_DISABLE = POST "/admin/users/{id}/disable";
    /// Enables an account again.
    ACCOUNT_ENABLE = POST "/admin/users/{id}/enable";
    /// Unlocks an account locked after failed logins.
    ACCOUNT_UNLOCK = POST "/admin/users/{id}/unlock";
    /// Sets an account's e-mail address.
    ACCOUNT_SET_EMAIL = PUT "/admin/users/{id}/email";
    /// Sends an account its invitation.
    ACCOUNT_INVITE = POST "/admin/users/{id}/invitation";
    /// Publishes a new version of the charter.
    CHARTER_PUBLISH = POST "/admin/charters";

    // ── The charter and the groups' internal rules ──────────────────────────────────
    /// The charter in force and whether the account accepted it.
    CHARTER = GET "/charter";
    /// Accepts the charter in force.
    CHARTER_ACCEPT = POST "/charter/accept";
    /// A group's internal rules and whether the account accepted them.
    CHANNEL_RULES = GET "/channels/{id}/rules";
    /// Publishes a group's internal rules.
    CHANNEL_RULES_PUBLISH = POST "/channels/{id}/rules";
    /// Accepts a group's internal rules.
    CHANNEL_RULES_ACCEPT = POST "/channels/{id}/rules/accept";

    // ── The access log (auditors) ───────────────────────────────────────────────────
    /// The access log's events, filtered.
    AUDIT_EVENTS = GET "/audit/events";
    /// Events per day, filtered.
    AUDIT_DAILY = GET "/audit/daily";
    /// The filtered events as a CSV or JSON file.
    AUDIT_EXPORT = GET "/audit/export";
    /// Verifies the access log's chain.
    AUDIT_VERIFY = GET "/audit/verify";
    /// The key the access log's checkpoints are signed with.
    AUDIT_PUBLIC_KEY = GET "/audit/public-key";
    /// The signed checkpoints.
    AUDIT_CHECKPOINTS = GET "/audit/checkpoints";
    /// The latest signed checkpoint.
    AUDIT_HEAD = GET "/audit/head";
    /// Proof that an event is in the log.
    AUDIT_INCLUSION_PROOF = GET "/audit/proofs/inclusion";
    /// Proof that a checkpoint extends an earlier one.
    AUDIT_CONSISTENCY_PROOF = GET "/audit/proofs/consistency";

    // ── Reports ─────────────────────────────────────────────────────────────────────
    /// The CLSPD's annual report.
    ANNUAL_REPORT = GET "/reports/annual";

    // ── Keys and devices ────────────────────────────────────────────────────────────
    /// Publishes the account's identity key.
    IDENTITY_PUBLISH = PUT "/keys/identity";
    /// Registers a device certificate.
    DEVICE_REGISTER = POST "/keys/devices";
    /// New keys in one step: the first enrolment (`enrol`), or starting over with the
    /// old ones lost.
    KEYS_RESET = POST "/keys/reset";
    /// Revokes one of the account's devices.
    DEVICE_REVOKE = DELETE "/keys/devices/{id}";
    /// A colleague's identity key and device certificates.
    USER_KEYS = GET "/keys/users/{user_id}";
    /// Publishes a device's new signed prekey (PROTOCOL.md §23).
    DEVICE_PREKEY_PUBLISH = PUT "/keys/devices/{id}/prekey";
    /// The key transparency log's signed head (PROTOCOL.md §25).
    KEY_LOG_HEAD = GET "/keys/log/head";
    /// A consistency proof between two sizes of the key log.
    KEY_LOG_CONSISTENCY = GET "/keys/log/consistency";
    /// A user's key log entries with their inclusion proofs.
    KEY_LOG_USER = GET "/keys/log/users/{user_id}";
    /// A page of the key log's entries, for clients that audit the whole log.
    KEY_LOG_ENTRIES = GET "/keys/log/entries";
    /// The account's key backup: a paged backup's head or a blob (PROTOCOL.md §10.8).
    KEY_BACKUP = GET "/keys/backup";
    /// Replaces the account's key backup of the first format (one blob).
    KEY_BACKUP_PUT = PUT "/keys/backup";
    /// One page of the account's paged key backup, by its hash (PROTOCOL.md §10.8).
    KEY_BACKUP_PAGE = GET "/keys/backup/pages/{hash}";
    /// Stores one page of the paged key backup under its hash.
    KEY_BACKUP_PAGE_PUT = PUT "/keys/backup/pages/{hash}";
    /// Replaces the paged key backup's head (`If-Match`), the commit point of a write.
    KEY_BACKUP_HEAD_PUT = PUT "/keys/backup/head";
    /// Stores epoch keys rewrapped for a newly linked device.
    DEVICE_EPOCH_KEYS = POST "/keys/devices/{id}/epoch-keys";
    /// A new device asks to join the account.
    LINK_REQUEST_CREATE = POST "/keys/link-requests";
    /// The account's pending link requests.
    LINK_REQUESTS = GET "/keys/link-requests";
    /// One link request.
    LINK_REQUEST = GET "/keys/link-requests/{id}";
    /// Certifies a link request's device.
    LINK_REQUEST_APPROVE = POST "/keys/link-requests/{id}/approve";
    /// Refuses (or cancels) a link request.
    LINK_REQUEST_REFUSE = DELETE "/keys/link-requests/{id}";

    // ── Channels ────────────────────────────────────────────────────────────────────
    /// The account's channels.
    CHANNELS = GET "/channels";
    /// Creates a channel.
    CHANNEL_CREATE = POST "/channels";
    /// Which of the given channels were destroyed.
    CHANNELS_DESTROYED = POST "/channels/destroyed";
    /// A channel, its members and their devices.
    CHANNEL = GET "/channels/{id}";
    /// Adds a member to a channel.
    CHANNEL_MEMBER_ADD = POST "/channels/{id}/members";
    /// Removes a member from a channel.
    CHANNEL_MEMBER_REMOVE = DELETE "/channels/{id}/members/{user_id}";
    /// Leaves a channel.
    CHANNEL_LEAVE = POST "/channels/{id}/leave";
    /// A channel's current epoch.
    CHANNEL_EPOCH = GET "/channels/{id}/epoch";
    /// Publishes a channel's new epoch key, wrapped for each member device.
    CHANNEL_EPOCH_PUBLISH = POST "/channels/{id}/epochs";
    /// A device's wrapped epoch keys of a channel.
    CHANNEL_DEVICE_KEYS = GET "/channels/{id}/keys";
    /// Acknowledges the wraps a device has stored, so that the server deletes them (§23.3).
    CHANNEL_KEYS_DELIVERED = POST "/channels/{id}/keys/delivered";
    /// A channel's message history.
    CHANNEL_MESSAGES = GET "/channels/{id}/messages";
    /// A channel's membership history.
    CHANNEL_MEMBERSHIP = GET "/channels/{id}/membership";
    /// A channel's signed membership log (PROTOCOL.md §22).
    CHANNEL_MEMBERSHIP_LOG = GET "/channels/{id}/membership-log";
    /// Starts a channel's signed membership log with its genesis record.
    CHANNEL_MEMBERSHIP_LOG_START = POST "/channels/{id}/membership-log";
    /// Stores a channel's title, sealed by a member's client (PROTOCOL.md §24).
    CHANNEL_TITLE_SEAL = PUT "/channels/{id}/title";
    /// A working group's coordinators.
    CHANNEL_COORDINATORS = GET "/channels/{id}/coordinators";
    /// Sets a working group's coordinators.
    CHANNEL_COORDINATORS_SET = PUT "/channels/{id}/coordinators";
    /// Uploads an encrypted attachment to a channel.
    ATTACHMENT_UPLOAD = POST "/channels/{id}/attachments";
    /// Downloads an encrypted attachment.
    ATTACHMENT = GET "/attachments/{id}";
    /// The directory of colleagues.
    DIRECTORY = GET "/directory";
    /// The institutions of the directory.
    DIRECTORY_INSTITUTIONS = GET "/directory/institutions";

    // ── Cases and practice sessions ─────────────────────────────────────────────────
    /// Opens a case.
    CASE_CREATE = POST "/cases";
    /// The templates of the notice given to the person a case is about.
    CASE_NOTICE_TEMPLATES = GET "/cases/notice-templates";
    /// A case.
    CASE = GET "/cases/{id}";
    /// Changes a case's follow-up.
    CASE_UPDATE = PATCH "/cases/{id}";
    /// Records that the person was informed.
    CASE_INFORMATION = PUT "/cases/{id}/information";
    /// Seals a case's note again under the current epoch, for members who joined since.
    CASE_NOTE_RESEAL = PUT "/cases/{id}/note";
    /// Archives a case.
    CASE_ARCHIVE = POST "/channels/{id}/archive";
    /// Opens an archived case, with a reason.
    CASE_OPEN_ARCHIVED = POST "/channels/{id}/open-archived";
    /// A case's sealed identity, for this device.
    CASE_IDENTITY = GET "/cases/{id}/identity";
    /// Seals a case's identity for its readers.
    CASE_IDENTITY_SEAL = PUT "/cases/{id}/identity";
    /// Who may read a case's identity.
    CASE_IDENTITY_READERS = GET "/cases/{id}/identity/readers";
    /// Opens a practice session.
    PRACTICE_SESSION_CREATE = POST "/practice-sessions";
    /// A practice session.
    PRACTICE_SESSION = GET "/practice-sessions/{id}";

    // ── Field reports ───────────────────────────────────────────────────────────────
    /// Files a field report.
    FIELD_REPORT_FILE = POST "/field-reports";
    /// The field reports the account may see.
    FIELD_REPORTS = GET "/field-reports";
    /// A field report.
    FIELD_REPORT = GET "/field-reports/{id}";
    /// Changes a field report's status.
    FIELD_REPORT_STATUS = POST "/field-reports/{id}/status";

    // ── Referrals ───────────────────────────────────────────────────────────────────
    /// Opens a referral.
    REFERRAL_OPEN = POST "/referrals";
    /// The referrals the account may see.
    REFERRALS = GET "/referrals";
    /// A referral.
    REFERRAL = GET "/referrals/{id}";
    /// Accepts a referral.
    REFERRAL_ACCEPT = POST "/referrals/{id}/accept";
    /// Declines a referral.
    REFERRAL_DECLINE = POST "/referrals/{id}/decline";
    /// Moves a referral on.
    REFERRAL_STATUS = POST "/referrals/{id}/status";

    // ── Meetings ────────────────────────────────────────────────────────────────────
    /// Schedules a meeting.
    MEETING_SCHEDULE = POST "/meetings";
    /// The meetings the account may see.
    MEETINGS = GET "/meetings";
    /// A meeting.
    MEETING = GET "/meetings/{id}";
    /// Records who attended a meeting.
    MEETING_ATTENDANCE = POST "/meetings/{id}/attendance";
    /// Records a decision on a situation.
    MEETING_DECISIONS = POST "/meetings/{id}/decisions";
    /// Writes a meeting's minutes.
    MEETING_MINUTES = POST "/meetings/{id}/minutes";
    /// Closes a meeting.
    MEETING_CLOSE = POST "/meetings/{id}/close";
    /// Changes a meeting's agenda.
    MEETING_AGENDA = POST "/meetings/{id}/agenda";
    /// Cancels a meeting.
    MEETING_CANCEL = POST "/meetings/{id}/cancel";
}

/// The WebSocket endpoint (docs/PROTOCOL.md); not an operation of the OpenAPI document.
pub const WEBSOCKET: Route<0> = Route::new("WEBSOCKET", Method::Get, "/ws");

/// The OpenAPI document itself; not one of its own operations.
pub const OPENAPI: Route<0> = Route::new("OPENAPI", Method::Get, "/openapi.json");

/// The web client's `routes.js`: [`API_BASE`], and every route of the table, [`WEBSOCKET`]
/// and [`OPENAPI`] as `{ method, path }`. The committed file must equal this (a test
/// checks it and says how to write it again).
pub fn javascript_module() -> String {
    let mut out = String::from(
        "// Generated from shared/src/protocol/v1/routes.rs: do not edit. After changing the table,\n\
         // write it again with `PASSERELLE_WRITE_ROUTES_JS=1 cargo test -p passerelle-shared routes`.\n\
         //\n\
         // Every endpoint of the API: its method and its path under API_BASE, `{name}` standing\n\
         // for a parameter (api.js fills them in).\n\
         \n\
         /** @typedef {{ method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string }} Route */\n\
         \n\
         /** The prefix of every path below. */\n",
    );
    let _ = writeln!(out, "export const API_BASE = '{API_BASE}';");
    let extra = [
        WEBSOCKET.endpoint("The WebSocket endpoint."),
        OPENAPI.endpoint("The OpenAPI document."),
    ];
    for endpoint in ALL.iter().chain(extra.iter()) {
        let _ = write!(
            out,
            "\n/** {} @type {{Route}} */\nexport const {} = {{ method: '{}', path: '{}' }};\n",
            endpoint.summary.trim(),
            endpoint.name,
            endpoint.method.as_str(),
            endpoint.path,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn fill_puts_each_value_in_its_place_as_one_encoded_segment() {
        assert_eq!(CHANNELS.fill([]), "/channels");
        assert_eq!(CHANNEL.fill(["c-1"]), "/channels/c-1");
        assert_eq!(
            CHANNEL_MEMBER_REMOVE.fill(["c 1", "u/2"]),
            "/channels/c%201/members/u%2F2"
        );
        assert_eq!(
            CHANNEL.fill(["../../admin/users?x=1#y"]),
            "/channels/..%2F..%2Fadmin%2Fusers%3Fx%3D1%23y"
        );
        assert_eq!(CASE.fill(["é"]), "/cases/%C3%A9");
        assert_eq!(CHANNEL.documented(), "/api/v1/channels/{id}");
    }

    #[test]
    fn parameter_count_refuses_malformed_templates() {
        assert_eq!(parameter_count("/a/{id}/b/{x}"), 2);
        assert_eq!(parameter_count("/a"), 0);
        assert_eq!(parameter_count("/a/{}"), usize::MAX);
        assert_eq!(parameter_count("/a/{id"), usize::MAX);
        assert_eq!(parameter_count("/a/id}"), usize::MAX);
        assert_eq!(parameter_count("/a/{{id}}"), usize::MAX);
    }

    #[test]
    fn each_method_and_path_and_name_is_in_the_table_once() {
        let mut operations = BTreeSet::new();
        let mut names = BTreeSet::new();
        for endpoint in ALL
            .iter()
            .chain([WEBSOCKET.endpoint(""), OPENAPI.endpoint("")].iter())
        {
            assert!(
                operations.insert((endpoint.method, endpoint.path)),
                "{} {} is in the table twice",
                endpoint.method.as_str(),
                endpoint.path
            );
            assert!(
                names.insert(endpoint.name),
                "{} is used twice",
                endpoint.name
            );
            assert!(!endpoint.path.ends_with('/'), "{}", endpoint.path);
            assert!(!endpoint.path.contains('\''), "{}", endpoint.path);
        }
    }

    #[test]
    fn the_sdk_builds_every_url_from_the_table() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/client");
        let mut offences = Vec::new();
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let source = std::fs::read_to_string(&path).unwrap();
            for (number, line) in source.lines().enumerate() {
                let code = line.trim_start();
                if !code.starts_with("//") && (code.contains("\"/") || code.contains("api/v1")) {
                    offences.push(format!("{}:{}: {code}", path.display(), number + 1));
                }
            }
        }
        assert!(
            offences.is_empty(),
            "the SDK writes paths by hand; use `Client::endpoint(routes::NAME, [..])`: {offences:#?}"
        );
    }

    fn web_client_file(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../web-client/js")
            .join(name)
    }

    #[test]
    fn the_web_clients_routes_js_is_generated_from_this_table() {
        let path = web_client_file("routes.js");
        let expected = javascript_module();
        if std::env::var_os("PASSERELLE_WRITE_ROUTES_JS").is_some() {
            std::fs::write(&path, &expected).unwrap_or_else(|err| panic!("{path:?}: {err}"));
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == expected,
            "web-client/js/routes.js differs from the route table; write it again with \
             `PASSERELLE_WRITE_ROUTES_JS=1 cargo test -p passerelle-shared routes` and commit it"
        );
    }

    /// The string literals of a JavaScript file that start with `/` (a path written by
    /// hand), with their line numbers. Comments are skipped.
    fn path_literals(source: &str) -> Vec<(usize, String)> {
        let mut found = Vec::new();
        for (number, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
                continue;
            }
            let bytes = line.as_bytes();
            for (at, &byte) in bytes.iter().enumerate() {
                // A quote after `/` or `\` closes a regular expression or is escaped.
                let quoted = at == 0 || !matches!(bytes[at - 1], b'/' | b'\\');
                if quoted && matches!(byte, b'\'' | b'"' | b'`') && bytes.get(at + 1) == Some(&b'/')
                {
                    found.push((number + 1, line[at..].chars().take(40).collect()));
                }
            }
        }
        found
    }

    #[test]
    fn the_web_clients_requests_take_their_paths_from_routes_js() {
        for file in ["api.js", "ws.js"] {
            let path = web_client_file(file);
            let source =
                std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path:?}: {err}"));
            let literals = path_literals(&source);
            assert!(
                literals.is_empty(),
                "web-client/js/{file} writes paths by hand; use the routes of routes.js \
                 (shared/src/protocol/v1/routes.rs): {literals:?}"
            );
        }
        assert_eq!(
            path_literals("request('GET', `/channels/${id}`);\n// '/in a comment'\n"),
            vec![(1, "`/channels/${id}`);".to_owned())]
        );
    }
}
