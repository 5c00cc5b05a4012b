// Sealed channel titles and case notes (docs/PROTOCOL.md §24; CHARTER.md C7–C9): what a
// person types to name a case, a practice session or a conversation never reaches the
// server in clear. This browser seals it under the channel's epoch key (scope
// `title:<id>`), opens the titles of the channels it lists, and re-seals a title under
// the current epoch when it can — right after it opens a new epoch, or when it shows a
// title sealed under an older one — so that members who joined since read it too. Who
// cannot open a title sees the channel's reference.

import { cases as casesApi, channels as channelsApi } from './api.js';
import * as c from './crypto.js';

/** @typedef {import('./keyring.js').Keyring} Keyring */
/** @typedef {import('./types.js').Channel} Channel */

/** Longest title, in characters (shared/src/protocol/v1/sealed_meta.rs). */
export const MAX_TITLE_CHARS = 120;

/** A reference drawn by the server (`DOS-…`, `SEA-…`), not a name typed in clear. */
const REFERENCE = /^[A-Z]{3}(?:-[A-Z0-9]{4}){3}$/;

/** @param {string} channelId */
const titleScope = (channelId) => `title:${channelId}`;
/** @param {string} caseId */
const noteScope = (caseId) => `note:${caseId}`;
/** @param {string} descriptionMsgId A field report's description's `client_msg_id`. */
const placeScope = (descriptionMsgId) => `place:${descriptionMsgId}`;

/**
 * Seals `text` under `scope` with the channel's key of `epoch` (a version-1 envelope,
 * outside the channel's message order).
 * @param {Keyring} keyring
 * @param {string} channelId
 * @param {number} epoch
 * @param {string} scope
 * @param {string} text
 */
async function sealUnder(keyring, channelId, epoch, scope, text) {
  const key = await keyring.epochKey(channelId, epoch);
  if (!key) throw new c.CryptoError('no_epoch_key', `epoch ${epoch}`);
  return c.sealEnvelope({
    header: { channelId: scope, epoch, senderDevice: keyring.deviceId, clientMsgId: c.uuid() },
    content: { text, reply_to: null, attachments: [] },
    epochKey: key,
    signingKey: keyring.device.signingKey,
  });
}

/**
 * Opens `envelope`, sealed under `scope` by `sealedBy`, with the channel's key of its
 * epoch: the sealing device must verify under that person's pinned identity.
 * @param {Keyring} keyring
 * @param {string} channelId
 * @param {string} scope
 * @param {any} envelope
 * @param {string} sealedBy
 * @returns {Promise<string>}
 */
async function openUnder(keyring, channelId, scope, envelope, sealedBy) {
  const { header } = c.parseEnvelope(envelope);
  if (header.channelId !== scope) throw new c.CryptoError('wrong_channel', header.channelId);
  const sender = await keyring.deviceOf(sealedBy, header.senderDevice);
  const key = await keyring.epochKey(channelId, header.epoch);
  if (!key) throw new c.CryptoError('no_epoch_key', `epoch ${header.epoch}`);
  const opened = await c.openEnvelope({ envelope, channelId: scope, senderSigningKey: sender.signing, epochKey: key });
  return opened.content.text;
}

/**
 * Seals a case's note under the channel's `epoch` (the current one, which the caller
 * made sure of).
 * @param {Keyring} keyring
 * @param {string} caseId
 * @param {number} epoch
 * @param {string} note
 */
export function sealNote(keyring, caseId, epoch, note) {
  return sealUnder(keyring, caseId, epoch, noteScope(caseId), note);
}

/**
 * Seals a field report's place (§16) with the group's key of its description's epoch,
 * under the place scope of that description: the server keeps ciphertext only.
 * @param {Keyring} keyring
 * @param {string} groupId
 * @param {any} description The sealed description (wire form).
 * @param {string} place
 */
export function sealPlace(keyring, groupId, description, place) {
  return sealUnder(keyring, groupId, description.epoch, placeScope(description.client_msg_id), place);
}

/**
 * A field report's place: opened when sealed (by its author's verified device, the same
 * that sealed the description), or the clear place of a report filed before places were
 * sealed.
 * @param {Keyring} keyring
 * @param {any} report
 * @returns {Promise<string>}
 */
export async function openPlace(keyring, report) {
  if (!report.sealed_place || !report.description) return report.place;
  const description = c.parseEnvelope(report.description).header;
  if (c.parseEnvelope(report.sealed_place).header.senderDevice !== description.senderDevice) throw new c.CryptoError('wrong_channel', 'place');
  return openUnder(keyring, report.group_id, placeScope(description.clientMsgId), report.sealed_place, report.author);
}

/**
 * Seals a case's note again, unchanged, under the case's current epoch when it was sealed
 * under an older one and this device holds the current key, so that the members who
 * joined since read it (§24). Answers the case as the server then shows it, or null when
 * there was nothing to do.
 * @param {Keyring} keyring
 * @param {string} caseId
 * @param {any} view The CaseView.
 * @param {string} note The note, opened.
 */
export async function resealNoteIfOld(keyring, caseId, view, note) {
  const envelope = view?.information?.sealed_note;
  const epoch = view?.channel?.epoch;
  if (!envelope || view.channel.status !== 'active' || c.parseEnvelope(envelope).header.epoch >= epoch || !keyring.hasEpochKey(caseId, epoch)) return null;
  const sealed = await sealNote(keyring, caseId, epoch, note);
  return casesApi.resealNote(caseId, sealed);
}

/**
 * Opens a case's sealed note, sealed by `recordedBy` (who sealed it again, else who
 * recorded the information).
 * @param {Keyring} keyring
 * @param {string} caseId
 * @param {any} envelope
 * @param {string} recordedBy
 */
export function openNote(keyring, caseId, envelope, recordedBy) {
  return openUnder(keyring, caseId, noteScope(caseId), envelope, recordedBy);
}

/**
 * The titles of the channels a messenger lists: opened once per sealing, kept in memory
 * only (like the messages), re-sealed under the current epoch when they can be.
 */
export class ChannelTitles {
  /**
   * @param {Keyring} keyring
   * @param {{ ensureEpoch: (channelId: string) => Promise<number>, emit: (type: string, detail: Record<string, unknown>) => void, channels: Map<string, Channel> }} owner
   */
  constructor(keyring, owner) {
    this.keyring = keyring;
    this.owner = owner;
    /** @type {Map<string, { sealing: string, title: string }>} By channel: the title opened, and which sealing it came from. */
    this.opened = new Map();
    /** @type {Map<string, Promise<void>>} Openings under way, by channel. */
    this.pending = new Map();
  }

  /**
   * The title to show, if opened.
   * @param {Channel} channel
   */
  shown(channel) {
    return this.opened.get(channel.id)?.title ?? null;
  }

  /**
   * The title followed by the reference, or the reference alone: for the lists where the
   * reference stays the case's name in meetings and letters (dashboard, agendas).
   * @param {Channel} channel
   */
  labelled(channel) {
    const title = this.shown(channel);
    return title ? `${title} (${channel.name})` : channel.name;
  }

  /**
   * Seals `title` for the channel under its current epoch (creating one if due) and
   * stores it; answers the channel as the server now shows it.
   * @param {string} channelId
   * @param {string} title
   */
  async seal(channelId, title) {
    const epoch = await this.owner.ensureEpoch(channelId);
    const envelope = await sealUnder(this.keyring, channelId, epoch, titleScope(channelId), JSON.stringify({ title }));
    const channel = await channelsApi.sealTitle(channelId, envelope);
    this.opened.set(channelId, { sealing: sealingOf(channel) ?? '', title });
    this.owner.channels.set(channelId, channel);
    this.owner.emit('channels', {});
    return channel;
  }

  /**
   * Opens the titles of these channels (each once per sealing), then says so.
   * @param {Channel[]} channels
   */
  async openAll(channels) {
    await Promise.all(channels.map((channel) => this.open(channel)));
    // A session named in clear before titles were sealed (§24): its name is sealed as its
    // title, and the server replaces it by a reference.
    const legacy = channels.filter((ch) => ch.kind === 'practice_session' && ch.status === 'active' && !ch.title && ch.name && !REFERENCE.test(ch.name));
    await Promise.all(legacy.map((ch) => this.seal(ch.id, ch.name).catch((error) => console.warn('a session title could not be sealed', error))));
  }

  /**
   * Opens a channel's title if it has a sealing not opened yet; re-seals it when it was
   * sealed under an older epoch whose successor this device holds. A title that does not
   * open leaves the reference shown.
   * @param {Channel} channel
   */
  open(channel) {
    const sealing = sealingOf(channel);
    if (!sealing || this.opened.get(channel.id)?.sealing === sealing) return Promise.resolve();
    const running = this.pending.get(channel.id);
    if (running) return running;
    const work = (async () => {
      const sealed = /** @type {import('./types.js').SealedTitle} */ (channel.title);
      try {
        const text = await openUnder(this.keyring, channel.id, titleScope(channel.id), sealed.envelope, sealed.sealed_by);
        const record = JSON.parse(text);
        if (typeof record?.title !== 'string') throw new c.CryptoError('malformed', 'title');
        this.opened.set(channel.id, { sealing, title: record.title });
        this.owner.emit('channels', {});
        await this.resealIfOld(channel, record.title);
      } catch (error) {
        console.warn('a channel title could not be opened', error);
      } finally {
        this.pending.delete(channel.id);
      }
    })();
    this.pending.set(channel.id, work);
    return work;
  }

  /**
   * After this device opened a new epoch of the channel: the title, if it was opened
   * here, is sealed again under it for the members who joined.
   * @param {string} channelId
   */
  async rotated(channelId) {
    const title = this.opened.get(channelId)?.title;
    if (title !== undefined) await this.seal(channelId, title).catch((error) => console.warn('the channel title could not be sealed again', error));
    // A case's note too (§24): the members who just joined hold this epoch only.
    if (this.owner.channels.get(channelId)?.kind === 'case') {
      await this.resealNote(channelId).catch((error) => console.warn('the case note could not be sealed again', error));
    }
  }

  /**
   * Opens a case's sealed note and seals it again under the current epoch if it is
   * under an older one.
   * @param {string} caseId
   */
  async resealNote(caseId) {
    const view = await casesApi.get(caseId);
    const envelope = view.information?.sealed_note;
    if (!envelope) return;
    const note = await openNote(this.keyring, caseId, envelope, view.note_sealed_by ?? view.information_recorded_by);
    await resealNoteIfOld(this.keyring, caseId, view, note);
  }

  /**
   * @param {Channel} channel
   * @param {string} title
   */
  async resealIfOld(channel, title) {
    const epoch = c.parseEnvelope(channel.title?.envelope).header.epoch;
    if (channel.status !== 'active' || epoch >= channel.epoch || !this.keyring.hasEpochKey(channel.id, channel.epoch)) return;
    await this.seal(channel.id, title).catch((error) => console.warn('the channel title could not be sealed again', error));
  }
}

/**
 * Which sealing a channel carries (its envelope's sender and id), or null.
 * @param {Channel} channel
 */
function sealingOf(channel) {
  const envelope = channel.title?.envelope;
  return envelope ? `${envelope.sender_device}/${envelope.client_msg_id}/${envelope.epoch}` : null;
}
