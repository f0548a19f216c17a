// Binary messages travel over SSE and in POST bodies as base64. btoa/atob exist in every browser
// and in Node >= 16, so no Buffer is needed.

/** Large arrays go through String.fromCharCode in slices: one call per byte is slow, one call for all overflows the stack. */
const SLICE = 0x8000;

/** Standard base64 (with padding) of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += SLICE) binary += String.fromCharCode(...bytes.subarray(i, i + SLICE));
  return btoa(binary);
}

/** The bytes of a base64 string; throws a DOMException on malformed input. */
export function decodeBase64(text: string): ArrayBuffer {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/** base64url without padding (RFC 4648 §5) of a string's UTF-8 bytes: what a subprotocol entry may hold. */
export function toBase64url(text: string): string {
  return encodeBase64(new TextEncoder().encode(text)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
