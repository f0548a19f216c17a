// The chat room's WebSocket handlers. Framework-neutral: the Express, Koa and Fastify demos all
// mount this same object. Everyone in the room subscribes to one topic of the hub; with a Redis
// hub, users connected to different processes chat together.
import { createHub } from '@switchyard/core';
import { redisHub } from '@switchyard/redis';

/** A Redis hub when REDIS_URL is set (several processes, one room), else undefined (in process). */
export function hubFromEnv(env = process.env) {
  if (!env.REDIS_URL) return undefined;
  const hub = redisHub({ url: env.REDIS_URL });
  hub.on('error', (error) => console.error('redis:', error.message));
  return hub;
}

export function chatRoom({ hub = createHub(), topic = 'room:lobby' } = {}) {
  const say = (event) =>
    hub.publish(topic, JSON.stringify(event)).catch(() => {
      // A distributed hub reports its own errors; local members already got the message.
    });
  return {
    hub,
    protocols: ['chat'],
    upgrade(req) {
      const name =
        String(req.query.name ?? '')
          .trim()
          .slice(0, 32) || 'anonymous';
      return { context: { name } };
    },
    open(ws) {
      ws.subscribe(topic);
      ws.send(JSON.stringify({ type: 'welcome', name: ws.context.name, online: hub.subscriberCount(topic) }));
      say({ type: 'join', name: ws.context.name });
    },
    message(ws, data, isBinary) {
      if (isBinary) return ws.close(1003, 'This room speaks text');
      const text = String(data).slice(0, 2000);
      if (text.trim()) say({ type: 'message', name: ws.context.name, text, at: Date.now() });
    },
    close(ws) {
      say({ type: 'leave', name: ws.context.name });
    },
  };
}
