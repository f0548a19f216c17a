/**
 * The `--help` texts. Each command's help ends with examples that can be pasted as they are.
 */
import { COMMANDS_HELP } from './commands.js';
import { ExitCode } from './exit-codes.js';

/** `switchyard --help`. */
export const MAIN_HELP = `Usage: switchyard <command> [options]

WebSockets by hand: an echo server to try things out, and a client that shows the
handshake like curl -v and then lets you talk.

Commands:
  echo             run a WebSocket echo server (built on @switchyard/core)
  connect <url>    connect to a WebSocket server, interactively or as a script
  help [command]   show the help of a command

Options:
  -h, --help       show this help
  -v, --version    print the version

Examples:
  switchyard echo
  switchyard connect ws://localhost:8080
  switchyard connect --help`;

/** `switchyard echo --help`. */
export const ECHO_HELP = `Usage: switchyard echo [options]

An echo server: every message comes back as it came (text as text, binary as binary).
Logs each connection, message and close code. Ctrl-C closes the clients with 1001 and stops.

Options:
  -p, --port <port>        port to listen on (default 8080; 0 picks a free port, printed
                           on the "listening on" line)
      --host <host>        address to listen on (default: every interface)
      --path <path>        accept WebSockets only at this path; others get 404
                           (default: any path)
      --protocol <name>    a subprotocol to accept, in order of preference; repeatable.
                           A client offering none of them gets 400. Without --protocol,
                           offers are answered with no subprotocol
      --tls                serve wss:// with a self-signed certificate made at startup
                           (clients need --insecure)
      --cert <file>        serve wss:// with this PEM certificate ...
      --key <file>         ... and this PEM private key
      --compression        accept permessage-deflate when the client offers it
      --max-payload <size> largest message accepted, e.g. 65536, 64k or 1m (default 1m);
                           a larger one closes the connection with 1009
      --token <token>      require "Authorization: Bearer <token>" or ?token=<token>;
                           other clients get 401 with WWW-Authenticate
      --greet              send "connected to <path>" to each client when it connects
  -h, --help               show this help

Examples:
  switchyard echo
  switchyard echo --port 9000 --path /chat --protocol chat --greet
  switchyard echo --tls --token s3cret
  switchyard echo --port 0 --compression --max-payload 64k`;

/** `switchyard connect --help`. */
export const CONNECT_HELP = `Usage: switchyard connect [options] <url>

Connects to a WebSocket server and shows the handshake like curl -v: the request (>),
the response (<), and what was checked (*), including Sec-WebSocket-Accept, the
subprotocol and the extensions. A refused handshake is shown with its status, headers
and body, and explained. These go to stderr; the conversation goes to stdout.

Then, interactively, each line you type is sent as a text message, and every message
received is printed with a timestamp (binary as length and hex). Commands:
${COMMANDS_HELP.map((line) => `  ${line}`).join('\n')}

With --send or --expect it runs as a script instead: it sends each --send text, waits
for --expect messages, prints them, closes with 1000 and exits.

Options:
  -H, --header <line>      an extra request header, "Name: value"; repeatable
                           (for tokens and cookies)
      --protocol <name>    offer this subprotocol; repeatable
      --origin <origin>    send this Origin header, as a browser would
  -k, --insecure           accept any certificate for wss:// (e.g. a self-signed one)
      --compression        offer permessage-deflate
  -s, --send <text>        script mode: send this text message once open; repeatable
  -e, --expect <n>         script mode: wait for n messages, print them, close, exit
                           (0 only checks the handshake)
  -t, --timeout <seconds>  limit for the handshake, and in script mode for the whole
                           run (default 10)
  -h, --help               show this help

Exit status:
  ${ExitCode.OK}  done: --expect met, /quit, /close, end of input, or the server closed
     with 1000 (normal), 1001 (going away) or 1005 (no code)
  ${ExitCode.FAILURE}  unexpected error
  ${ExitCode.USAGE}  bad command line
  ${ExitCode.HANDSHAKE_FAILED}  handshake failed: refused, DNS, TLS, or an answer other than a valid 101
  ${ExitCode.TIMEOUT}  timed out (--timeout): the handshake, or waiting for --expect messages
  ${ExitCode.ABNORMAL_CLOSE}  closed abnormally: a close code other than 1000, 1001 and 1005, the
     connection dropped (1006), or closed before --expect was met

Examples:
  switchyard connect ws://localhost:8080
  switchyard connect wss://localhost:8080/chat --insecure --protocol chat
  switchyard connect -H 'Authorization: Bearer s3cret' ws://localhost:8080
  switchyard connect ws://localhost:8080 --send hello --expect 1 --timeout 5`;
