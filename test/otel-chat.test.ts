// The otel-chat demo as a user runs it: chat through it, then scrape its Prometheus page.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { closed, messages, openWs } from './helpers.js';

const file = fileURLToPath(new URL('../examples/otel-chat/server.js', import.meta.url));
const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGTERM');
});

/** The value of one Prometheus sample whose labels include all of `labels`. */
function sample(page: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of page.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('otel-chat demo', () => {
  it('exposes handshakes, connections, messages and closes on /metrics', async () => {
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    await expect.poll(() => /http:\/\/[^\s]+:(\d+)/.test(output), { timeout: 10_000 }).toBe(true);
    const port = Number(/http:\/\/[^\s]+:(\d+)/.exec(output)![1]);

    const ann = await openWs(`ws://127.0.0.1:${port}/chat?name=ann`, ['chat']);
    const inbox = messages(ann);
    await inbox.next(); // welcome
    ann.send('hello');
    await expect(openWs(`ws://127.0.0.1:${port}/chat`, ['soap'])).rejects.toThrow(/400/);
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

    let page = await scrape();
    expect(page).toContain('# TYPE websocket_server_handshakes_total counter');
    expect(sample(page, 'websocket_server_handshakes_total', { http_response_status_code: '101' })).toBe(1);
    expect(sample(page, 'websocket_server_handshakes_total', { http_response_status_code: '400' })).toBe(1);
    expect(sample(page, 'websocket_server_active_connections', { switchyard_transport: 'websocket' })).toBe(1);
    expect(
      sample(page, 'websocket_server_messages_total', {
        websocket_message_direction: 'receive',
        websocket_message_type: 'text',
      }),
    ).toBe(1);

    ann.close(1000);
    await closed(ann);
    await expect
      .poll(async () => {
        page = await scrape();
        return sample(page, 'websocket_server_closes_total', {
          websocket_close_code: '1000',
          websocket_close_initiator: 'client',
        });
      })
      .toBe(1);
    expect(sample(page, 'websocket_server_active_connections', { switchyard_transport: 'websocket' })).toBe(0);
    expect(sample(page, 'websocket_server_connection_duration_count', { websocket_close_code: '1000' })).toBe(1);

    const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as {
      handshakes: unknown;
      closes: unknown;
    };
    expect(stats.handshakes).toEqual({ accepted: 1, refused: { 400: 1 }, pending: 0, shed: 0 });
    expect(stats.closes).toEqual({ 1000: 1 });
  }, 20_000);
});
