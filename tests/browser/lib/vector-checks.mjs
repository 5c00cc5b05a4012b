// Checks every JSON test vector of shared/vectors/ against the web client's crypto.js.
//
// `runVectorChecks` is self-contained: the browser test hands it to page.evaluate, so it
// runs inside the page with Chromium's WebCrypto and imports /js/crypto.js as the app
// does; node can run it too (see vectors.test.mjs) against a file URL.

/**
 * @param {{ vectors: Record<string, any>, modulePath: string }} input
 * @returns {Promise<{ name: string, ok: boolean, detail?: string }[]>}
 */
export async function runVectorChecks({ vectors, modulePath }) {
  /** @type {any} */
  const c = await import(modulePath);
  /** @type {{ name: string, ok: boolean, detail?: string }[]} */
  const results = [];
  const hex = (/** @type {Uint8Array} */ b) => c.toHex(b);
  const bytes = (/** @type {string} */ h) => c.fromHex(h);
  const utf8 = (/** @type {string} */ s) => new TextEncoder().encode(s);
  /** @param {string} name @param {() => Promise<unknown> | unknown} check */
  const check = async (name, check) => {
    try {
      const outcome = await check();
      results.push(outcome === true ? { name, ok: true } : { name, ok: false, detail: `got ${JSON.stringify(outcome)}` });
    } catch (error) {
      results.push({ name, ok: false, detail: String(error && /** @type {any} */ (error).stack || error) });
    }
  };
  /** @param {string} name @param {() => Promise<unknown> | unknown} action */
  const rejects = async (name, action) => {
    try {
      await action();
      results.push({ name, ok: false, detail: 'accepted' });
    } catch {
      results.push({ name, ok: true });
    }
  };
  /** JSON with sorted keys: the vector files sort theirs. @param {unknown} value @returns {string} */
  const stable = (value) =>
    JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));
  /** @param {unknown} a @param {unknown} b */
  const same = (a, b) => (a === b ? true : { actual: a, expected: b });

  // encoding.json
  const enc = vectors.encoding;
  for (const v of enc.base64url.valid) {
    await check(`base64url decodes "${v.text}"`, () => same(hex(c.fromBase64url(v.text)), v.bytes_hex));
    await check(`base64url encodes "${v.text}"`, () => same(c.toBase64url(bytes(v.bytes_hex)), v.text));
  }
  for (const v of enc.base64url.invalid) await rejects(`base64url rejects ${v.why}`, () => c.fromBase64url(v.text));
  for (const [i, v] of enc.canonical_bytes.entries()) {
    await check(`canonical bytes ${i}`, () => same(hex(c.canonical(v.label, ...v.fields_hex.map(bytes))), v.expected_hex));
  }
  for (const v of enc.public_keys.valid) {
    await check('public key accepted', async () => same(hex(await c.decodePublicKey(v.base64url)), v.bytes_hex));
  }
  for (const v of enc.public_keys.invalid) await rejects(`public key rejected: ${v.why}`, () => c.checkPublicKey(bytes(v.bytes_hex)));

  // device_certificate.json
  const dc = vectors.device_certificate;
  const identityPublic = c.fromBase64url(dc.identity_public_key);
  const devSigningPublic = c.fromBase64url(dc.certificate.keys.signing);
  const devAgreementPublic = c.fromBase64url(dc.certificate.keys.agreement);
  await check('certificate body', () =>
    same(hex(c.certificateBody(dc.user_id, dc.device_id, identityPublic, devSigningPublic, devAgreementPublic)), dc.signed_bytes_hex),
  );
  await check('recorded certificate verifies', async () => {
    const device = await c.verifyCertificate(dc.certificate, identityPublic);
    return same(device.deviceId, dc.device_id);
  });
  for (const v of dc.invalid) await rejects(`certificate rejected: ${v.why}`, () => c.verifyCertificate(v.certificate, identityPublic));
  await check('request built from the vector keys has the same fields and its own valid signature', async () => {
    const signingKey = await c.importSigningKey(bytes(dc.device_signing_private_key_hex), devSigningPublic);
    const request = await c.certificateRequest({
      userId: dc.user_id,
      deviceId: dc.device_id,
      identityKey: identityPublic,
      signingKey,
      signingPublic: devSigningPublic,
      agreementPublic: devAgreementPublic,
    });
    const identityKey = await c.importSigningKey(bytes(dc.identity_private_key_hex), identityPublic);
    const certificate = await c.certify(request, identityKey, identityPublic);
    await c.verifyCertificate(certificate, identityPublic);
    const { self_signature: _a, ...mine } = request;
    const { self_signature: _b, ...theirs } = dc.request;
    return same(stable(mine), stable(theirs));
  });
  await check('recorded request is certified', async () => {
    const identityKey = await c.importSigningKey(bytes(dc.identity_private_key_hex), identityPublic);
    await c.verifyCertificate(await c.certify(dc.request, identityKey, identityPublic), identityPublic);
    return true;
  });
  await check('agreement private key matches its public key (ECDH both ways)', async () => {
    const mine = await c.importAgreementKey(bytes(dc.device_agreement_private_key_hex), devAgreementPublic);
    const other = await c.generateAgreementKey(false);
    return same(hex(await c.ecdh(mine, other.publicKey)), hex(await c.ecdh(other.privateKey, devAgreementPublic)));
  });

  // fingerprint.json
  const fp = vectors.fingerprint;
  for (const v of fp.fingerprints) {
    const key = c.fromBase64url(v.identity_public_key);
    await check(`fingerprint seed ${v.user_id}`, () => same(hex(c.fingerprintSeed(key, v.user_id)), v.seed_hex));
    await check(`fingerprint digits ${v.user_id}`, async () => {
      const digits = await c.fingerprint(key, v.user_id);
      const display = c.groupDigits(digits);
      const qr = c.fingerprintQrPayload(v.user_id, digits);
      return same(`${digits}|${display}|${qr}`, `${v.digits}|${v.display}|${v.qr_payload}`);
    });
  }
  await check('link code', async () => {
    const code = await c.linkCode(fp.link_code.request, c.fromBase64url(fp.link_code.identity_public_key));
    const input = c.canonical(c.LABEL.deviceLink, c.certificateBody(
      fp.link_code.request.user_id, fp.link_code.request.device_id, c.fromBase64url(fp.link_code.identity_public_key),
      c.fromBase64url(fp.link_code.request.keys.signing), c.fromBase64url(fp.link_code.request.keys.agreement)));
    return same(
      `${hex(input)}|${hex(code.digest)}|${code.digits}|${c.groupDigits(code.digits)}|${code.qrPayload}`,
      `${fp.link_code.input_hex}|${fp.link_code.digest_hex}|${fp.link_code.digits}|${fp.link_code.display}|${fp.link_code.qr_payload}`,
    );
  });

  // epoch_wrap.json
  const ew = vectors.epoch_wrap;
  const epochKey = bytes(ew.epoch_key_hex);
  const recipientAgreementPublic = c.fromBase64url(ew.recipient_public_keys.agreement);
  const ephemeralPublic = c.fromBase64url(ew.ephemeral_public_key);
  const senderSigningPublic = c.fromBase64url(ew.sender_public_keys.signing);
  await check('commitment input and value', async () => {
    const input = c.canonical(c.LABEL.epochKeyCommitment, ew.channel_id, c.u64be(ew.epoch), epochKey);
    return same(`${hex(input)}|${hex(await c.commitment(ew.channel_id, ew.epoch, epochKey))}`, `${ew.commitment_input_hex}|${ew.commitment_hex}`);
  });
  await check('wrap additional data', () =>
    same(hex(c.wrapAdditionalData(ew.channel_id, ew.epoch, ew.sender_device, ew.recipient_device, bytes(ew.commitment_hex))), ew.additional_data_hex),
  );
  await check('ECDH shared secret and wrap key', async () => {
    const ephemeral = await c.importAgreementKey(bytes(ew.ephemeral_private_key_hex), ephemeralPublic);
    const shared = await c.ecdh(ephemeral, recipientAgreementPublic);
    const salt = new Uint8Array([...ephemeralPublic, ...recipientAgreementPublic]);
    const wrapKey = await c.hkdf(shared, salt, bytes(ew.additional_data_hex));
    return same(`${hex(shared)}|${hex(salt)}|${hex(wrapKey)}`, `${ew.shared_secret_hex}|${ew.hkdf_salt_hex}|${ew.wrap_key_hex}`);
  });
  await check('wrap with the vector ephemeral key and nonce gives the recorded wrap and signed bytes', async () => {
    const senderSigning = await c.importSigningKey(bytes(ew.sender_signing_private_key_hex), senderSigningPublic);
    const wrapped = await c.wrapEpochKey({
      channelId: ew.channel_id,
      epoch: ew.epoch,
      epochKey,
      senderDevice: ew.sender_device,
      senderSigningKey: senderSigning,
      recipientDevice: ew.recipient_device,
      recipientAgreementKey: recipientAgreementPublic,
      ephemeral: { privateKey: await c.importAgreementKey(bytes(ew.ephemeral_private_key_hex), ephemeralPublic), publicKey: ephemeralPublic },
      nonce: bytes(ew.nonce_hex),
    });
    const signed = new Uint8Array([...bytes(ew.additional_data_hex), ...ephemeralPublic, ...bytes(ew.nonce_hex), ...c.fromBase64url(wrapped.ciphertext)]);
    const ok = await c.verify(senderSigningPublic, c.fromBase64url(wrapped.signature), signed);
    const { signature: _a, ...mine } = wrapped;
    const { signature: _b, ...theirs } = ew.wrapped;
    return same(`${stable(mine)}|${hex(signed)}|${ok}`, `${stable(theirs)}|${ew.signed_bytes_hex}|true`);
  });
  const recipientAgreement = await c.importAgreementKey(bytes(ew.recipient_agreement_private_key_hex), recipientAgreementPublic);
  const unwrapInput = {
    wrapped: ew.wrapped,
    channelId: ew.channel_id,
    recipientDevice: ew.recipient_device,
    agreementKey: recipientAgreement,
    agreementPublic: recipientAgreementPublic,
    senderSigningKey: senderSigningPublic,
  };
  await check('recorded wrap unwraps to the epoch key', async () => same(hex((await c.unwrapEpochKey(unwrapInput)).key), ew.epoch_key_hex));
  await rejects('wrap for another device is refused', () => c.unwrapEpochKey({ ...unwrapInput, recipientDevice: ew.sender_device }));
  await rejects('wrap in another channel is refused', () => c.unwrapEpochKey({ ...unwrapInput, channelId: ew.sender_device }));
  await rejects('wrap signed by another device is refused', () => c.unwrapEpochKey({ ...unwrapInput, senderSigningKey: recipientAgreementPublic }));
  await rejects('wrap with another epoch is refused', () => c.unwrapEpochKey({ ...unwrapInput, wrapped: { ...ew.wrapped, epoch: ew.epoch + 1 } }));
  await rejects('wrap with an unknown field is refused', () => c.unwrapEpochKey({ ...unwrapInput, wrapped: { ...ew.wrapped, extra: 1 } }));

  // message_envelope.json
  const me = vectors.message_envelope;
  const meKey = bytes(me.epoch_key_hex);
  const meSigningPublic = c.fromBase64url(me.sender_signing_public_key);
  const header = { channelId: me.envelope.channel_id, epoch: me.envelope.epoch, senderDevice: me.envelope.sender_device, clientMsgId: me.envelope.client_msg_id };
  await check('content JSON', () => same(hex(c.encodeContent(me.content)), me.content_json_hex));
  await check('content JSON is the UTF-8 of content_json', () => same(hex(utf8(me.content_json)), me.content_json_hex));
  await check('padded plaintext', () => same(hex(c.pad(bytes(me.content_json_hex))), me.padded_plaintext_hex));
  await check('message additional data', () => same(hex(c.messageAdditionalData(header)), me.additional_data_hex));
  await check('message key', async () => same(hex(await c.messageKey(meKey, bytes(me.additional_data_hex))), me.message_key_hex));
  await check('sealing with the vector nonce gives the recorded ciphertext and signed bytes', async () => {
    const signingKey = await c.importSigningKey(bytes(me.sender_signing_private_key_hex), meSigningPublic);
    const envelope = await c.sealEnvelope({ header, content: me.content, epochKey: meKey, signingKey, nonce: bytes(me.nonce_hex) });
    const signed = new Uint8Array([...bytes(me.additional_data_hex), ...bytes(me.nonce_hex), ...c.fromBase64url(envelope.ciphertext)]);
    const { signature: _a, ...mine } = envelope;
    const { signature: _b, ...theirs } = me.envelope;
    const ok = await c.verify(meSigningPublic, c.fromBase64url(envelope.signature), signed);
    return same(`${stable(mine)}|${hex(signed)}|${ok}`, `${stable(theirs)}|${me.signed_bytes_hex}|true`);
  });
  const openInput = { envelope: me.envelope, channelId: me.envelope.channel_id, senderSigningKey: meSigningPublic, epochKey: meKey };
  await check('recorded envelope opens to the content', async () => {
    const opened = await c.openEnvelope(openInput);
    return same(stable(opened.content), stable(me.content));
  });
  await rejects('envelope delivered in another channel is refused', () => c.openEnvelope({ ...openInput, channelId: 'another' }));
  await rejects('envelope with another client_msg_id is refused', () =>
    c.openEnvelope({ ...openInput, envelope: { ...me.envelope, client_msg_id: me.content.reply_to.client_msg_id } }),
  );
  await rejects('envelope under another epoch key is refused', () => c.openEnvelope({ ...openInput, epochKey: bytes(ew.wrap_key_hex) }));
  await rejects('envelope with an unknown field is refused', () => c.openEnvelope({ ...openInput, envelope: { ...me.envelope, extra: true } }));

  // sealed_title.json: a channel's title sealed under its scope (§24)
  const st = vectors.sealed_title;
  const stKey = bytes(st.epoch_key_hex);
  const stPublic = c.fromBase64url(st.sender_signing_public_key);
  const stHeader = { channelId: st.envelope.channel_id, epoch: st.envelope.epoch, senderDevice: st.envelope.sender_device, clientMsgId: st.envelope.client_msg_id };
  await check('sealed title: scope of the channel', () => same(st.envelope.channel_id, `title:${st.channel_id}`));
  await check('sealed title: content JSON', () => same(hex(c.encodeContent({ text: JSON.stringify({ title: st.title }), reply_to: null, attachments: [] })), hex(utf8(st.content_json))));
  await check('sealed title: additional data', () => same(hex(c.messageAdditionalData(stHeader)), st.additional_data_hex));
  await check('sealed title: message key', async () => same(hex(await c.messageKey(stKey, bytes(st.additional_data_hex))), st.message_key_hex));
  await check('sealed title: sealing with the vector nonce gives the recorded ciphertext', async () => {
    const signingKey = await c.importSigningKey(bytes(st.sender_signing_private_key_hex), stPublic);
    const envelope = await c.sealEnvelope({ header: stHeader, content: { text: JSON.stringify({ title: st.title }), reply_to: null, attachments: [] }, epochKey: stKey, signingKey, nonce: bytes(st.nonce_hex) });
    return same(envelope.ciphertext, st.envelope.ciphertext);
  });
  await check('sealed title: the recorded envelope opens to the title', async () => {
    const opened = await c.openEnvelope({ envelope: st.envelope, channelId: st.envelope.channel_id, senderSigningKey: stPublic, epochKey: stKey });
    return same(JSON.parse(opened.content.text).title, st.title);
  });
  await rejects('sealed title: not a message of the channel', () => c.openEnvelope({ envelope: { ...st.envelope, channel_id: st.channel_id }, channelId: st.channel_id, senderSigningKey: stPublic, epochKey: stKey }));

  // message_order.json: version-2 envelopes (§8.7) and the order checks (§8.8)
  const mo = vectors.message_order;
  const v2 = mo.envelope_v2;
  const v2Key = bytes(v2.epoch_key_hex);
  const v2Public = c.fromBase64url(v2.sender_signing_public_key);
  const v2Header = {
    channelId: v2.envelope.channel_id,
    epoch: v2.envelope.epoch,
    senderDevice: v2.envelope.sender_device,
    clientMsgId: v2.envelope.client_msg_id,
    order: { counter: v2.envelope.counter, prev: c.fromBase64url(v2.envelope.prev), sentAt: v2.envelope.sent_at },
  };
  await check('version-2 message additional data', () => same(hex(c.messageAdditionalData(v2Header)), v2.additional_data_hex));
  await check('version-2 message key', async () => same(hex(await c.messageKey(v2Key, bytes(v2.additional_data_hex))), v2.message_key_hex));
  await check('sealing a version-2 envelope gives the recorded fields and signed bytes', async () => {
    const signingKey = await c.importSigningKey(bytes(v2.sender_signing_private_key_hex), v2Public);
    const envelope = await c.sealEnvelope({ header: v2Header, content: bytes(v2.content_json_hex), epochKey: v2Key, signingKey, nonce: bytes(v2.nonce_hex) });
    const signed = new Uint8Array([...bytes(v2.additional_data_hex), ...bytes(v2.nonce_hex), ...c.fromBase64url(envelope.ciphertext)]);
    const { signature: _a, ...mine } = envelope;
    const { signature: _b, ...theirs } = v2.envelope;
    return same(`${stable(mine)}|${hex(signed)}`, `${stable(theirs)}|${v2.signed_bytes_hex}`);
  });
  await check('the recorded version-2 envelope opens, with its order hash', async () => {
    const opened = await c.openEnvelope({ envelope: v2.envelope, channelId: v2.envelope.channel_id, senderSigningKey: v2Public, epochKey: v2Key });
    return same(`${hex(opened.json)}|${hex(opened.hash)}|${opened.header.order.counter}`, `${v2.content_json_hex}|${v2.order_hash_hex}|1`);
  });
  await rejects('a version-2 envelope whose counter changed is refused', () =>
    c.openEnvelope({ envelope: { ...v2.envelope, counter: 2 }, channelId: v2.envelope.channel_id, senderSigningKey: v2Public, epochKey: v2Key }),
  );
  await rejects('a version-2 envelope presented as version 1 is refused', () => {
    const { counter: _c, prev: _p, sent_at: _s, ...rest } = v2.envelope;
    return c.openEnvelope({ envelope: { ...rest, v: 1 }, channelId: v2.envelope.channel_id, senderSigningKey: v2Public, epochKey: v2Key });
  });
  await rejects('a version-2 envelope without its prev is refused', () => {
    const { prev: _p, ...rest } = v2.envelope;
    return c.parseEnvelope(rest);
  });
  /** @type {Record<string, { parsed: any, hash: Uint8Array }>} */
  const ordered = {};
  for (const [name, entry] of Object.entries(mo.envelopes)) {
    const e = /** @type {any} */ (entry);
    await check(`order hash of ${name}`, async () => {
      const hash = await c.orderHash(e.envelope);
      const ok = await c.verify(c.fromBase64url(mo.senders[e.envelope.sender_device]), c.fromBase64url(e.envelope.signature), new Uint8Array([...c.messageAdditionalData(c.parseEnvelope(e.envelope).header), ...c.fromBase64url(e.envelope.nonce), ...c.fromBase64url(e.envelope.ciphertext)]));
      ordered[name] = { parsed: c.parseEnvelope(e.envelope), hash };
      return same(`${c.toBase64url(hash)}|${ok}`, `${e.order_hash}|true`);
    });
  }
  for (const oc of mo.cases) {
    await check(`order: ${oc.why}`, () => {
      const run = oc.run.map((/** @type {any} */ a) => ({
        seq: a.seq,
        ts: a.ts,
        senderDevice: ordered[a.envelope].parsed.header.senderDevice,
        order: ordered[a.envelope].parsed.header.order ?? null,
        hash: ordered[a.envelope].hash,
      }));
      const report = c.checkOrder(oc.marks, run, oc.reaches_end, oc.follows_marks);
      const notices = report.notices.map((/** @type {any} */ n) => ({
        seq: n.seq,
        sender_device: n.senderDevice,
        code: n.code,
        ...(n.count !== undefined ? { count: n.count } : {}),
        ...(n.sentAt !== undefined ? { sent_at: n.sentAt } : {}),
      }));
      return same(`${stable(notices)}|${stable(report.marks)}`, `${stable(oc.notices)}|${stable(oc.marks_after)}`);
    });
  }

  // padding.json
  const pd = vectors.padding;
  for (const v of pd.sizes) await check(`padded size of ${v.content_len}`, () => same(c.paddedLength(v.content_len), v.padded_len));
  for (const [i, v] of pd.exact.entries()) {
    await check(`exact padding ${i}`, () => same(`${hex(c.pad(bytes(v.content_hex)))}|${hex(c.unpad(bytes(v.padded_hex)))}`, `${v.padded_hex}|${v.content_hex}`));
  }
  for (const v of pd.malformed) await rejects(`padding rejected: ${v.why}`, () => c.unpad(bytes(v.padded_hex)));

  // attachment.json
  const at = vectors.attachment;
  for (const v of at.cases) {
    await check(`attachment of ${v.plaintext_len} bytes`, async () => {
      const file = new Uint8Array(v.plaintext_len);
      for (let i = 0; i < file.length; i += 1) file[i] = i % 251;
      const sealed = await c.encryptAttachment(file, { key: bytes(at.key_hex), baseNonce: bytes(at.base_nonce_hex) });
      const problems = [];
      if (sealed.blob.length !== v.blob_len) problems.push('blob_len');
      if (hex(sealed.sha256) !== v.blob_sha256_hex) problems.push('sha256');
      if (v.blob_hex && hex(sealed.blob) !== v.blob_hex) problems.push('blob');
      let offset = 13;
      for (const chunk of v.chunks) {
        if (hex(c.chunkNonce(bytes(at.base_nonce_hex), chunk.index)) !== chunk.nonce_hex) problems.push(`nonce ${chunk.index}`);
        if (hex(c.chunkAdditionalData(chunk.index, chunk.final)) !== chunk.additional_data_hex) problems.push(`ad ${chunk.index}`);
        const sealedChunk = sealed.blob.subarray(offset, offset + chunk.ciphertext_len);
        if (hex(sealedChunk.subarray(sealedChunk.length - 16)) !== chunk.tag_hex) problems.push(`tag ${chunk.index}`);
        offset += chunk.ciphertext_len;
      }
      const back = await c.decryptAttachment(sealed.blob, { key: bytes(at.key_hex), sha256: sealed.sha256, size: file.length });
      if (hex(back) !== hex(file)) problems.push('round trip');
      if (v.chunks.length > 1) {
        const truncated = sealed.blob.subarray(0, 13 + v.chunks[0].ciphertext_len);
        try {
          await c.decryptAttachment(truncated, { key: bytes(at.key_hex), sha256: await c.sha256(truncated), size: 65536 });
          problems.push('truncation accepted');
        } catch {
          // refused, as it must be
        }
      }
      return problems.length === 0 ? true : problems;
    });
  }

  // key_backup.json
  const kb = vectors.key_backup;
  const codeBytes = bytes(kb.recovery_code_bytes_hex);
  await check('recovery code display', () => same(c.formatRecoveryCode(codeBytes), kb.recovery_code));
  for (const v of kb.recovery_code_inputs) {
    if (v.bytes_hex === null) await rejects(`recovery code rejected: "${v.input}"`, () => c.parseRecoveryCode(v.input));
    else await check(`recovery code parsed: "${v.input}"`, () => same(hex(c.parseRecoveryCode(v.input)), v.bytes_hex));
  }
  await check('backup salt', () => same(hex(c.backupSalt(kb.user_id)), kb.kdf_salt_hex));
  await check('backup key (PBKDF2, 600 000 iterations)', async () => same(hex(await c.deriveBackupKeyBytes(codeBytes, kb.user_id)), kb.backup_key_hex));
  await check('backup additional data', () => same(hex(c.backupAdditionalData(kb.user_id, kb.backup.revision)), kb.additional_data_hex));
  await check('sealing the contents with the vector nonce gives the recorded backup', async () => {
    const sealed = await c.sealBackup({
      contents: utf8(kb.plaintext_json),
      backupKey: bytes(kb.backup_key_hex),
      userId: kb.user_id,
      revision: kb.backup.revision,
      nonce: bytes(kb.nonce_hex),
    });
    return same(stable(sealed), stable(kb.backup));
  });
  await check('recorded backup opens with the derived key', async () => {
    const key = await c.deriveBackupKey(codeBytes, kb.user_id);
    const { contents, revision } = await c.openBackup({ backup: kb.backup, backupKey: key, userId: kb.user_id });
    const { encodeBackupContents } = await import(modulePath.replace(/crypto\.js$/, 'crypto/backup.js'));
    return same(
      `${revision}|${hex(contents.identityPrivate)}|${c.toBase64url(contents.identityPublic)}|${new TextDecoder().decode(encodeBackupContents(contents))}`,
      `${kb.backup.revision}|${kb.identity_private_key_hex}|${kb.identity_public_key}|${kb.plaintext_json}`,
    );
  });
  await check('tombstones are read back as written', async () => {
    const { contents } = await c.openBackup({ backup: kb.backup, backupKey: bytes(kb.backup_key_hex), userId: kb.user_id });
    return same(JSON.stringify(contents.shredded), JSON.stringify(JSON.parse(kb.plaintext_json).shredded.map((/** @type {any} */ t) => ({ channelId: t.channel_id, belowEpoch: t.below_epoch ?? null }))));
  });
  await check('keys a backup\'s own tombstones cover are dropped on opening', async () => {
    const { contents } = await c.openBackup({ backup: kb.unfiltered_backup, backupKey: bytes(kb.backup_key_hex), userId: kb.user_id });
    return same(JSON.stringify(contents.epochKeys.map((k) => [k.channelId, k.epoch])), JSON.stringify(kb.unfiltered_kept_epoch_keys));
  });
  // key_backup_pages.json (§10.8)
  const kp = vectors.key_backup_pages;
  if (kp) {
    const pkey = bytes(kp.backup_key_hex);
    await check('page additional data', () => same(hex(c.pageAdditionalData(kp.user_id, bytes(kp.page_id_hex))), kp.page_additional_data_hex));
    await check('page hash', async () => same(await c.pageHash(kp.page), kp.page_hash));
    await check('sealing a page with the vector id and nonce gives the recorded page', async () => {
      const { page, reference } = await c.sealPage({ keys: utf8(kp.page_plaintext_json), backupKey: pkey, userId: kp.user_id, pageId: bytes(kp.page_id_hex), nonce: bytes(kp.page_nonce_hex) });
      return same(`${stable(page)}|${reference.hash}|${reference.id}`, `${stable(kp.page)}|${kp.page_hash}|${kp.head.pages[0].id}`);
    });
    await check('head additional data', () => same(hex(c.headAdditionalData(kp.user_id, kp.head.revision, kp.head.pages)), kp.head_additional_data_hex));
    await check('sealing the head with the vector nonce gives the recorded head', async () => {
      const head = await c.sealHead({ contents: utf8(kp.head_plaintext_json), pages: kp.head.pages, backupKey: pkey, userId: kp.user_id, revision: kp.head.revision, nonce: bytes(kp.head_nonce_hex) });
      return same(stable(head), stable(kp.head));
    });
    await check('the recorded head and page open', async () => {
      const { contents, pages } = await c.openHead({ head: kp.head, backupKey: pkey, userId: kp.user_id });
      const keys = await c.openPage({ page: kp.page, backupKey: pkey, userId: kp.user_id, reference: pages[0] });
      const plain = JSON.parse(kp.page_plaintext_json);
      return same(
        `${hex(contents.identityPrivate)}|${JSON.stringify(contents.shredded)}|${JSON.stringify(keys.map((k) => [k.channelId, k.epoch, c.toBase64url(k.key)]))}`,
        `${kp.identity_private_key_hex}|${JSON.stringify(JSON.parse(kp.head_plaintext_json).shredded.map((/** @type {any} */ t) => ({ channelId: t.channel_id, belowEpoch: t.below_epoch ?? null })))}|${JSON.stringify(plain.epoch_keys.map((/** @type {any} */ k) => [k.channel_id, k.epoch, k.key]))}`,
      );
    });
    await rejects('a page under another hash is refused (swapped or rolled back)', () =>
      c.openPage({ page: kp.page, backupKey: pkey, userId: kp.user_id, reference: { id: kp.head.pages[0].id, hash: '0'.repeat(64) } }),
    );
    await rejects('a page under another id is refused', () =>
      c.openPage({ page: kp.page, backupKey: pkey, userId: kp.user_id, reference: { id: c.toBase64url(new Uint8Array(16)), hash: kp.page_hash } }),
    );
    await rejects('a head with a page dropped from its list is refused', () =>
      c.openHead({ head: { ...kp.head, pages: [] }, backupKey: pkey, userId: kp.user_id }),
    );
    await rejects('a head older than one seen is refused', () =>
      c.openHead({ head: kp.head, backupKey: pkey, userId: kp.user_id, minRevision: kp.head.revision + 1 }),
    );
  }
  await check('a code of the first format derives its key with its own iterations', async () =>
    same(hex(await c.deriveBackupKeyBytes(c.parseRecoveryCode(kb.legacy.recovery_code), kb.user_id)), kb.legacy.backup_key_hex),
  );
  await check('legacy recovery code display', () => same(c.formatRecoveryCode(bytes(kb.legacy.recovery_code_bytes_hex)), kb.legacy.recovery_code));
  await rejects('backup of another user is refused', () => c.openBackup({ backup: kb.backup, backupKey: bytes(kb.backup_key_hex), userId: dc.device_id }));
  await rejects('backup older than one seen is refused', () =>
    c.openBackup({ backup: kb.backup, backupKey: bytes(kb.backup_key_hex), userId: kb.user_id, minRevision: kb.backup.revision + 1 }),
  );
  await rejects('backup presented as another revision is refused', () =>
    c.openBackup({ backup: { ...kb.backup, revision: kb.backup.revision + 1 }, backupKey: bytes(kb.backup_key_hex), userId: kb.user_id }),
  );

  // rejections.json: what a client refuses although every signature is valid (§12.1).
  const rj = vectors.rejections;
  const roster = new c.Roster(rj.channel_id, rj.members);
  for (const d of rj.devices) {
    try {
      await roster.admit(d.owner, c.fromBase64url(rj.identities[d.owner]), d.certificate, d.revoked);
    } catch {
      // A non-member's device, a certificate that does not verify: remembered by the roster.
    }
  }
  for (const v of rj.epoch_plans) {
    await check(`epoch plan: ${v.why}`, () => {
      const plan = roster.planEpoch(v.requested);
      if (v.refused !== null) return same(plan.refused[0]?.code ?? null, v.refused);
      if (plan.refused.length > 0) return plan.refused;
      return same(stable({ wrap: plan.wrap.map((/** @type {any} */ d) => d.deviceId), withheld: plan.withheld }), stable({ wrap: v.wrap, withheld: v.withheld }));
    });
  }
  const rjRecipientAgreementPublic = c.fromBase64url(rj.recipient.public_keys.agreement);
  const rjRecipientAgreement = await c.importAgreementKey(bytes(rj.recipient.agreement_private_key_hex), rjRecipientAgreementPublic);
  /** @param {() => Promise<unknown>} action @returns {Promise<string | null>} */
  const outcome = async (action) => {
    try {
      await action();
      return null;
    } catch (error) {
      const code = /** @type {any} */ (error)?.code;
      return ['not_member', 'unknown_device', 'wrong_channel', 'wrong_recipient'].includes(code) ? code : 'rejected';
    }
  };
  for (const v of rj.wraps) {
    await check(`wrap: ${v.why}`, async () => {
      const code = await outcome(async () => {
        const senderSigningKey = roster.wrapSender(v.delivered_in, rj.recipient.device_id, v.wrapped);
        const unwrapped = await c.unwrapEpochKey({
          wrapped: v.wrapped,
          channelId: v.delivered_in,
          recipientDevice: rj.recipient.device_id,
          agreementKey: rjRecipientAgreement,
          agreementPublic: rjRecipientAgreementPublic,
          senderSigningKey,
        });
        if (hex(unwrapped.key) !== rj.epoch_key_hex) throw new Error('another key');
      });
      return same(code, v.refused);
    });
  }
  for (const v of rj.envelopes) {
    await check(`envelope: ${v.why}`, async () => {
      const code = await outcome(async () => {
        const { header } = c.parseEnvelope(v.envelope);
        let certificate = null;
        for (const d of rj.devices) {
          if (d.certificate.device_id !== header.senderDevice) continue;
          certificate = await c.verifyCertificate(d.certificate, c.fromBase64url(rj.identities[v.sender])).catch(() => null);
        }
        const senderSigningKey = roster.envelopeSender(v.delivered_in, v.sender, header, certificate, v.newest_epoch);
        const opened = await c.openEnvelope({ envelope: v.envelope, channelId: v.delivered_in, senderSigningKey, epochKey: bytes(rj.epoch_key_hex) });
        if (opened.content.text !== v.text) throw new Error('another text');
      });
      return same(code, v.refused);
    });
  }
  // membership_log.json: the signed membership log (§22): a valid chain and its members,
  // a bad signature, a broken chain, a non-coordinator's change, the referent named,
  // dropped with their departure, and three refused namings.
  const ml = vectors.membership_log;
  /** @type {Map<string, Uint8Array>} */
  const mlKeys = new Map();
  for (const p of ml.people) {
    const verified = await c.verifyCertificate(p.certificate, c.fromBase64url(p.identity));
    mlKeys.set(`${verified.userId}/${verified.deviceId}`, verified.signing);
  }
  await check('membership record signed bytes', () => {
    const r = c.parseRecord(ml.genesis.record);
    return same(hex(c.recordSignedBytes(r)), ml.genesis.signed_bytes_hex);
  });
  await check('membership record hash', async () => {
    const state = await c.verifyLog(ml.channel_id, [ml.genesis.record], (/** @type {string} */ u, /** @type {string} */ d) => mlKeys.get(`${u}/${d}`) ?? null);
    return same(hex(state.head), ml.genesis.hash_hex);
  });
  for (const v of ml.logs) {
    await check(`membership log: ${v.why}`, async () => {
      let state = c.emptyState(ml.channel_id);
      for (const [i, record] of v.records.entries()) {
        try {
          state = await c.applyRecord(state, record, mlKeys.get(`${record.actor}/${record.actor_device}`) ?? null);
        } catch (error) {
          return same(stable({ at: i, code: /** @type {any} */ (error)?.code }), stable({ at: v.at, code: v.refused }));
        }
      }
      if (v.refused) return `accepted, expected ${v.refused}`;
      return same(
        stable({ members: [...state.members].sort(), coordinators: [...state.coordinators].sort(), referent: state.referent }),
        stable({ members: [...v.members].sort(), coordinators: [...v.coordinators].sort(), referent: v.referent }),
      );
    });
  }

  // The head rules (§26): a log served later must contain every head seen before.
  for (const v of ml.heads ?? []) {
    await check(`membership head: ${v.why}`, async () => {
      const state = v.records.length > 0 ? await c.verifyLog(ml.channel_id, v.records, (/** @type {string} */ u, /** @type {string} */ d) => mlKeys.get(`${u}/${d}`) ?? null) : null;
      try {
        c.checkContains(state, v.head, v.short);
      } catch (error) {
        return same(/** @type {any} */ (error)?.code, v.refused);
      }
      return v.refused === null ? true : `accepted, expected ${v.refused}`;
    });
  }

  // signed_prekey.json (§23)
  const sp = vectors.signed_prekey;
  if (sp) {
    const certificate = await c.verifyCertificate(sp.certificate, c.fromBase64url(vectors.device_certificate.identity_public_key));
    await check('signed prekey bytes', () =>
      same(hex(c.prekeySignedBytes(sp.prekey.user_id, sp.prekey.device_id, sp.prekey.serial, sp.prekey.created_at, c.fromBase64url(sp.prekey.agreement))), sp.signed_bytes_hex));
    await check('recorded signed prekey verifies against its certificate', async () => same(hex((await c.verifyPrekey(sp.prekey, certificate)).agreement), hex(c.fromBase64url(sp.prekey.agreement))));
    for (const v of sp.invalid) await rejects(`signed prekey: ${v.why}`, () => c.verifyPrekey(v.prekey, certificate));
    await rejects('signed prekey of another device is refused', () => c.verifyPrekey(sp.prekey, { ...certificate, deviceId: sp.wrap.wrapped.sender_device }));
    const prekeyPublic = c.fromBase64url(sp.prekey.agreement);
    const prekeyInput = {
      wrapped: sp.wrap.wrapped,
      channelId: sp.wrap.wrapped.channel_id,
      recipientDevice: sp.wrap.wrapped.recipient_device,
      agreementKey: await c.importAgreementKey(bytes(sp.prekey_private_key_hex), prekeyPublic),
      agreementPublic: prekeyPublic,
      senderSigningKey: c.fromBase64url(sp.wrap.sender_public_keys.signing),
    };
    await check('a wrap to the prekey unwraps with the prekey', async () => same(hex((await c.unwrapEpochKey(prekeyInput)).key), sp.wrap.epoch_key_hex));
    const certificateAgreement = await c.importAgreementKey(bytes(vectors.device_certificate.device_agreement_private_key_hex), certificate.agreement);
    await rejects('a wrap to the prekey does not open with the certificate key', () =>
      c.unwrapEpochKey({ ...prekeyInput, agreementKey: certificateAgreement, agreementPublic: certificate.agreement }));
    await check('a prekey made here verifies', async () => {
      const signing = await c.generateSigningKey(false);
      const made = await c.makePrekey({ userId: 'u', deviceId: 'd', serial: 1, createdAt: 5, signingKey: signing.privateKey });
      const verified = await c.verifyPrekey(made.record, { userId: 'u', deviceId: 'd', signing: signing.publicKey });
      return same(hex(verified.agreement), hex(made.publicKey));
    });
  }

  // key_log.json (§25)
  const kl = vectors.key_log;
  const leaves = [];
  for (const [i, v] of kl.entries.entries()) {
    await check(`key log entry ${i} bytes`, () => same(hex(c.keyLogEntryBytes(v.entry)), v.bytes_hex));
    await check(`key log entry ${i} leaf`, async () => same(hex(await c.leafHash(c.keyLogEntryBytes(v.entry))), v.leaf_hash_hex));
    leaves.push(bytes(v.leaf_hash_hex));
  }
  const roots = kl.roots_hex.map(bytes);
  // The audit of the whole log (§25.4) makes the same root at every size, and says per
  // user what the entries say; a split head is told from a joined one (§27).
  const audit = c.emptyAudit();
  await check('key log audit of no entry', async () => same(hex(await c.auditRoot(audit)), kl.roots_hex[0]));
  for (const [i, v] of kl.entries.entries()) {
    await c.auditPush(audit, { index: i, at: i, entry: v.entry });
    await check(`key log audit root at ${i + 1}`, async () => same(hex(await c.auditRoot(audit)), kl.roots_hex[i + 1]));
  }
  await rejects('key log audit refuses an entry out of order', () => c.auditPush(c.loadAudit(c.storeAudit(audit)), { index: 0, at: 0, entry: kl.entries[0].entry }));
  await check('key log audit survives its stored form', async () => same(hex(await c.auditRoot(c.loadAudit(c.storeAudit(audit)))), kl.roots_hex[kl.entries.length]));
  for (const v of kl.consistency) {
    await check(`key log heads ${v.from} and ${v.to} are one log`, () =>
      c.sameLog({ size: v.to, root: roots[v.to] }, { size: v.from, root: roots[v.from] }, v.proof_hex.map(bytes)));
  }
  await check('key log heads of one size and two roots are split', async () =>
    same(await c.sameLog({ size: 2, root: roots[2] }, { size: 2, root: roots[1] }, []), false));
  for (const v of kl.inclusion) {
    await check(`key log inclusion ${v.index} in ${v.size}`, () => c.verifyInclusion(v.index, v.size, leaves[v.index], v.proof_hex.map(bytes), roots[v.size]));
  }
  for (const v of kl.consistency) {
    await check(`key log consistency ${v.from} to ${v.to}`, () => c.verifyConsistency(v.from, v.to, roots[v.from], roots[v.to], v.proof_hex.map(bytes)));
  }
  const n = leaves.length;
  for (const v of kl.rejected_inclusion) {
    await check(`key log inclusion refused: ${v.why}`, async () => same(await c.verifyInclusion(v.index, v.size, leaves[v.index] ?? new Uint8Array(32), v.proof_hex.map(bytes), roots[n]), false));
  }
  for (const v of kl.rejected_consistency) {
    const old = v.old_root_hex ? bytes(v.old_root_hex) : roots[v.from];
    await check(`key log consistency refused: ${v.why}`, async () => same(await c.verifyConsistency(v.from, v.to, old, roots[n], v.proof_hex.map(bytes)), false));
  }
  await check('key log checkpoint opens', async () => {
    const checkpoint = await c.openCheckpoint(kl.checkpoint.note, kl.checkpoint.verifier_key);
    return same(`${checkpoint.size} ${hex(checkpoint.root)}`, `${kl.checkpoint.size} ${kl.checkpoint.root_hex}`);
  });
  await check('key log checkpoint opens with a key whose base64 holds a +', async () => {
    const checkpoint = await c.openCheckpoint(kl.checkpoint_key_with_plus.note, kl.checkpoint_key_with_plus.verifier_key);
    return same(hex(checkpoint.root), kl.checkpoint.root_hex);
  });
  for (const v of kl.rejected_checkpoints) await rejects(`key log checkpoint refused: ${v.why}`, () => c.openCheckpoint(v.note, kl.checkpoint.verifier_key));
  return results;
}
