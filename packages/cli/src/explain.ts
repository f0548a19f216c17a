/**
 * Why a handshake failed, in words a person can act on. Clients such as wscat stop at
 * "Unexpected server response: 401"; these turn a status, a client error or a network error
 * into what probably happened and what to try next.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** What the client asked for, which most explanations refer to. */
export interface Attempt {
  /** The URL connected to. */
  url: URL;
  /** The subprotocols offered, in order. */
  protocols: readonly string[];
  /** The `Origin` sent, if any. */
  origin: string | undefined;
  /** Whether compression was offered. */
  compression: boolean;
}

const CHROME_NO_PROTOCOL =
  'Chrome: "Error during WebSocket handshake: Sent non-empty \'Sec-WebSocket-Protocol\' header but no response was received"';

/** Explains an HTTP answer other than 101. */
export function explainRejection(status: number, headers: IncomingHttpHeaders, attempt: Attempt): string[] {
  if (status >= 300 && status < 400) {
    const location = headers.location ? ` to ${headers.location}` : '';
    return [
      `The server redirects${location}. WebSocket clients, browsers included, do not follow redirects; connect to the final URL instead.`,
    ];
  }
  switch (status) {
    case 200:
      return [
        'The server answered as for a plain page: nothing at this URL handles WebSocket upgrades, or a proxy in between dropped the Upgrade header.',
      ];
    case 400:
      if (attempt.protocols.length > 0) {
        return [
          `You offered the subprotocol${attempt.protocols.length > 1 ? 's' : ''} ${attempt.protocols.join(', ')}. A server that speaks none of them refuses the handshake; its message above should say which it speaks. Change --protocol to match.`,
        ];
      }
      return ['The server found something wrong with the handshake request; its message above should say what.'];
    case 401: {
      const challenge = headers['www-authenticate'];
      const scheme = challenge?.split(/\s/, 1)[0];
      const example = scheme && scheme.toLowerCase() !== 'bearer' ? `${scheme} CREDENTIALS` : 'Bearer TOKEN';
      return [
        `The server wants credentials${challenge ? ` (WWW-Authenticate: ${challenge})` : ''}. Send them with -H 'Authorization: ${example}'` +
          ' or as the server documents (switchyard echo --token also accepts ?token=TOKEN in the URL).',
      ];
    }
    case 403:
      return [
        `The server refused this client. Servers often check the Origin header${attempt.origin ? ` (you sent ${attempt.origin})` : ' (you sent none)'}; browsers always send one, so try --origin with an allowed origin.`,
      ];
    case 404:
      return [`Nothing accepts WebSockets at ${attempt.url.pathname}; check the path in the URL.`];
    case 405:
      return ['The server refused the request method; WebSocket handshakes are GET requests.'];
    case 426: {
      const version = headers['sec-websocket-version'];
      return [
        version
          ? `The server speaks Sec-WebSocket-Version ${version}; this client speaks 13.`
          : 'The server asks for an upgrade this client did not offer (426 Upgrade Required).',
      ];
    }
    case 429:
      return [
        `The server is rate limiting this client${headers['retry-after'] ? `; it asks to retry after ${headers['retry-after']} s` : ''}.`,
      ];
    case 502:
    case 504:
      return ['A proxy or gateway could not reach the WebSocket server behind it.'];
    case 503:
      return [
        `The server is unavailable, perhaps shutting down${headers['retry-after'] ? `; it asks to retry after ${headers['retry-after']} s` : ''}.`,
      ];
    default:
      return [];
  }
}

/**
 * Explains a 101 whose subprotocol does not fit the offer. `offered` is what the client sent,
 * `chosen` what the 101 named (undefined: none).
 */
export function explainProtocolMismatch(offered: readonly string[], chosen: string | undefined): string[] {
  if (chosen === undefined) {
    return [
      `The client offered ${offered.join(', ')}, but the 101 names no subprotocol.`,
      `This client fails such a connection, and so do browsers (${CHROME_NO_PROTOCOL}).`,
      'The server should pick one of the offered subprotocols (a switchyard endpoint does once it declares protocols: [...]); or connect without --protocol.',
    ];
  }
  if (offered.length === 0) {
    return [
      `The 101 names the subprotocol ${chosen}, but the client offered none; browsers fail such a connection too. A server may only pick from what the client offered.`,
    ];
  }
  return [
    `The 101 names the subprotocol ${chosen}, which the client did not offer (it offered ${offered.join(', ')}); browsers fail such a connection too. A server may only pick from what the client offered.`,
  ];
}

/** The messages of `ws` for a 101 it refuses, and what each means. */
const CLIENT_ERRORS: Record<string, string> = {
  'Invalid Upgrade header':
    'The 101 lacks "Upgrade: websocket": the server (or a proxy) switched to some other protocol.',
  'Invalid Sec-WebSocket-Accept header':
    'The server did not prove it read this handshake (see the Sec-WebSocket-Accept check above); a cache or proxy may have replayed an old answer.',
  'Server sent a Sec-WebSocket-Extensions header but no extension was requested':
    'The server enabled an extension the client did not offer; browsers fail such a connection too.',
  'Server indicated an extension that was not requested':
    'The server enabled an extension the client did not offer; browsers fail such a connection too.',
  'Invalid Sec-WebSocket-Extensions header':
    'The server answered the compression offer with parameters the client cannot accept.',
};

/** Explains a network, TLS or handshake error (anything but an HTTP status). */
export function explainError(error: Error & { code?: string }, attempt: Attempt): string[] {
  const known = CLIENT_ERRORS[error.message];
  if (known) return [known];
  const host = attempt.url.hostname;
  const port =
    attempt.url.port || (attempt.url.protocol === 'wss:' || attempt.url.protocol === 'https:' ? '443' : '80');
  const secure = attempt.url.protocol === 'wss:' || attempt.url.protocol === 'https:';
  switch (error.code) {
    case 'ECONNREFUSED':
      return [
        `Nothing is listening on ${host} port ${port}. Is the server running? To start one there: switchyard echo --port ${port}`,
      ];
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return [`The host name ${host} could not be resolved.`];
    case 'ETIMEDOUT':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return [`${host} port ${port} cannot be reached from here (a firewall, or the wrong address).`];
    case 'ECONNRESET':
      return [
        secure
          ? 'The server hung up during the handshake. If it speaks plain HTTP, use ws:// instead of wss://.'
          : 'The server hung up without answering. If it serves TLS (switchyard echo --tls), use wss:// instead of ws://.',
      ];
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return ['The server did not answer with TLS. If it speaks plain HTTP, use ws:// instead of wss://.'];
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_VERSION':
      return ['The server did not answer with HTTP. Is this the right port? A TLS server needs wss://.'];
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return [
        `The server's certificate is not trusted: ${error.message}.`,
        'For a test server with a self-signed certificate (such as switchyard echo --tls), pass --insecure to skip verification.',
      ];
    default:
      return [];
  }
}
