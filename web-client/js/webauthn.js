// Passkeys and security keys (WebAuthn) in the browser: the server's options (JSON, binary
// fields in base64url) become the objects `navigator.credentials` takes, its answer
// becomes JSON again, and the browser's exceptions become French messages.
//
// The browser binds every answer to this page's origin: on a look-alike site the key
// either refuses or answers for that other site, which the server refuses.

import { ApiError } from './api.js';

/**
 * Runs a browser ceremony; its exceptions become an ApiError with a French message, as
 * the server's refusals are, so forms report both the same way.
 * @template T
 * @param {() => Promise<T>} action
 * @returns {Promise<T>}
 */
async function ceremony(action) {
  try {
    return await action();
  } catch (error) {
    if (error instanceof ApiError) throw error;
    const name = error instanceof Error ? error.name : 'Error';
    throw new ApiError(`webauthn_browser_${name}`, browserErrorMessage(error), 0);
  }
}

/** Whether this browser can use passkeys and security keys at all. */
export function supported() {
  return typeof window !== 'undefined' && typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

/** @param {string} text base64url, unpadded */
function fromB64(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/** @param {ArrayBuffer | null | undefined} buffer */
function toB64(buffer) {
  if (!buffer) return undefined;
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * @param {any} descriptors
 * @returns {PublicKeyCredentialDescriptor[] | undefined}
 */
function descriptors(descriptors) {
  if (!Array.isArray(descriptors)) return undefined;
  return descriptors.map((d) => ({ ...d, id: fromB64(d.id) }));
}

/**
 * Registers a new credential with the creation options the server answered.
 * @param {{ publicKey: any }} options
 * @returns {Promise<object>} the credential, JSON-serialised for the server
 */
export async function create(options) {
  const source = options.publicKey;
  /** @type {PublicKeyCredentialCreationOptions} */
  const publicKey = {
    ...source,
    challenge: fromB64(source.challenge),
    user: { ...source.user, id: fromB64(source.user.id) },
    excludeCredentials: descriptors(source.excludeCredentials),
  };
  if (!supported()) throw new ApiError('webauthn_unsupported', browserErrorMessage(new DOMException('', 'NotSupportedError')), 0);
  const credential = /** @type {PublicKeyCredential | null} */ (
    await ceremony(() => navigator.credentials.create({ publicKey }))
  );
  if (!credential) throw new ApiError('webauthn_browser_NotAllowedError', browserErrorMessage(new DOMException('', 'NotAllowedError')), 0);
  const response = /** @type {AuthenticatorAttestationResponse} */ (credential.response);
  return {
    id: credential.id,
    rawId: toB64(credential.rawId),
    type: credential.type,
    response: {
      attestationObject: toB64(response.attestationObject),
      clientDataJSON: toB64(response.clientDataJSON),
      transports: typeof response.getTransports === 'function' ? response.getTransports() : undefined,
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

/**
 * Answers request options (second step, or passwordless when they name no credential).
 * @param {{ publicKey: any }} options
 * @returns {Promise<object>} the assertion, JSON-serialised for the server
 */
export async function get(options) {
  const source = options.publicKey;
  /** @type {PublicKeyCredentialRequestOptions} */
  const publicKey = {
    ...source,
    challenge: fromB64(source.challenge),
    allowCredentials: descriptors(source.allowCredentials),
  };
  if (!supported()) throw new ApiError('webauthn_unsupported', browserErrorMessage(new DOMException('', 'NotSupportedError')), 0);
  const credential = /** @type {PublicKeyCredential | null} */ (
    await ceremony(() => navigator.credentials.get({ publicKey }))
  );
  if (!credential) throw new ApiError('webauthn_browser_NotAllowedError', browserErrorMessage(new DOMException('', 'NotAllowedError')), 0);
  const response = /** @type {AuthenticatorAssertionResponse} */ (credential.response);
  return {
    id: credential.id,
    rawId: toB64(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: toB64(response.authenticatorData),
      clientDataJSON: toB64(response.clientDataJSON),
      signature: toB64(response.signature),
      userHandle: toB64(response.userHandle),
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

/**
 * What to tell people when the browser refused or gave up (the server's refusals carry
 * their own message).
 * @param {unknown} error
 * @returns {string}
 */
export function browserErrorMessage(error) {
  const name = error instanceof DOMException || error instanceof Error ? error.name : '';
  switch (name) {
    case 'NotAllowedError':
      // The browser says the same for « cancelled » and « timed out », on purpose.
      return 'Opération annulée ou délai dépassé : la clé de sécurité n’a pas répondu. Réessayez en suivant les indications du navigateur.';
    case 'AbortError':
      return 'Opération annulée.';
    case 'InvalidStateError':
      return 'Cette clé de sécurité est déjà enregistrée pour votre compte.';
    case 'SecurityError':
      return 'Cette page n’est pas à l’adresse officielle de Passerelle : la clé de sécurité ne peut pas y être utilisée. Vérifiez l’adresse dans la barre du navigateur.';
    case 'NotSupportedError':
      return 'Ce navigateur ou cette clé ne prend pas en charge ce type de clé de sécurité.';
    default:
      return 'La clé de sécurité n’a pas pu être utilisée. Réessayez ; si cela se reproduit, prévenez l’administrateur.';
  }
}
