// What a logged-in account needs before it can read or write: this browser's device
// (keys in IndexedDB, still registered on the server) and the charter accepted
// (CHARTER.md C2). Computed once per login, then kept for the page's life.

import { charter as charterApi } from './api.js';
import { Keyring } from './keyring.js';
import { rotatePrekeyIfDue } from './prekeys.js';

/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').Role} Role */
/** @typedef {import('./types.js').CharterStatus} CharterStatus */

/**
 * @typedef {object} Readiness
 * @property {Keyring | null} keyring null: this browser must be set up as a device.
 * @property {'ok' | 'revoked' | 'missing' | 'none'} device `none`: no device here.
 * @property {CharterStatus} charter
 */

/** @type {{ me: Me, ready: Promise<Readiness> } | null} */
let current = null;
/** @type {Keyring | null} */
let keyring = null;

/**
 * Whether a role reads the annual report (server/src/policy.rs, ReadAnnualReport).
 * @param {Role} role
 */
export function readsReport(role) {
  return role === 'coordinator' || role === 'admin';
}

/**
 * Whether a role reads and writes channels (admins and auditors never do).
 * @param {Role} role
 */
export function usesChannels(role) {
  return role === 'member' || role === 'coordinator' || role === 'external';
}

/**
 * Whether the role may browse the directory, hence start a direct conversation (not
 * external participants: CHARTER.md C6).
 * @param {Role} role
 */
export function browsesDirectory(role) {
  return role === 'member' || role === 'coordinator';
}

/**
 * Whether the account creates channels: a CLSPD coordinator, or a member its working
 * groups named coordinator (CHARTER.md C1), who opens cases and practice sessions there
 * (server/src/app/coordinators.rs, `require_opening`).
 * @param {Me} me
 */
export function createsChannels(me) {
  return me.role === 'coordinator' || (me.role === 'member' && (me.coordinated_groups ?? []).length > 0);
}

/**
 * Whether the role takes part in referrals: every professional may receive one for their
 * institution, the intervenant social sends them, the coordinator follows them all
 * (server/src/policy.rs, `may_use_referrals`).
 * @param {Role} role
 */
export function usesReferrals(role) {
  return role === 'member' || role === 'coordinator';
}

/**
 * The account's readiness, computed once.
 * @param {Me} me
 * @returns {Promise<Readiness>}
 */
export function readiness(me) {
  if (!current || current.me.id !== me.id) {
    const ready = compute(me);
    current = { me, ready };
    ready.catch(() => {
      if (current?.ready === ready) current = null;
    });
  }
  return current.ready;
}

/**
 * @param {Me} me
 * @returns {Promise<Readiness>}
 */
async function compute(me) {
  const [loaded, charter] = await Promise.all([Keyring.load(me), charterApi.status()]);
  /** @type {Readiness['device']} */
  let device = 'none';
  if (loaded) {
    device = await loaded.serverStatus();
    if (device !== 'ok') {
      // Revoked or unknown to the server (revoked while no page was open, say): these
      // keys are of no use any more.
      await loaded.forget();
    }
  }
  keyring = device === 'ok' ? loaded : null;
  // A new signed prekey when the current one is due (PROTOCOL.md §23); a failure waits
  // for the next start.
  if (keyring) await rotatePrekeyIfDue(keyring).catch((error) => console.warn('the agreement key could not be renewed', error));
  return { keyring, device, charter };
}

/** The keyring of the ready account. */
export function currentKeyring() {
  return keyring;
}

/**
 * Records a change (a device just set up, the charter just accepted) so the next
 * screen sees it.
 * @param {Me} me
 * @param {Partial<Readiness>} change
 */
export async function update(me, change) {
  const ready = await readiness(me);
  const next = { ...ready, ...change };
  if (change.keyring) {
    keyring = change.keyring;
    next.device = 'ok';
    await rotatePrekeyIfDue(change.keyring).catch((error) => console.warn('the agreement key could not be renewed', error));
  }
  current = { me, ready: Promise.resolve(next) };
}

/** Forgets everything (logout). */
export function reset() {
  current = null;
  keyring = null;
}

/**
 * Whether the charter still needs accepting.
 * @param {CharterStatus} charter
 */
export function charterPending(charter) {
  return charter.current !== null && charter.accepted_version !== charter.current.version;
}
