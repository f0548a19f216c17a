// The chat room's WebSocket handlers. Framework-neutral: the Express, Koa and Fastify demos
// all mount this same object.
export function chatRoom() {
  const members = new Set();
  const broadcast = (event) => {
    const text = JSON.stringify(event);
    for (const member of members) member.send(text);
  };
  return {
    protocols: ['chat'],
    upgrade(req) {
      const name = String(req.query.name ?? '').trim().slice(0, 32) || 'anonymous';
      return { context: { name } };
    },
    open(ws) {
      members.add(ws);
      ws.send(JSON.stringify({ type: 'welcome', name: ws.context.name, online: members.size }));
      broadcast({ type: 'join', name: ws.context.name, online: members.size });
    },
    message(ws, data, isBinary) {
      if (isBinary) return ws.close(1003, 'This room speaks text');
      const text = String(data).slice(0, 2000);
      if (text.trim()) broadcast({ type: 'message', name: ws.context.name, text, at: Date.now() });
    },
    close(ws) {
      members.delete(ws);
      broadcast({ type: 'leave', name: ws.context.name, online: members.size });
    },
  };
}
