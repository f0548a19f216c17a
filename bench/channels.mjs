#!/usr/bin/env node
/**
 * What switchyard's diagnostics channels cost per message when nobody subscribes, and when
 * someone does: the guard each publisher runs (`channel.hasSubscribers`, then build and publish
 * a payload), timed in a tight loop on the real channel objects. Prints a table.
 *
 *   node bench/channels.mjs
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { CHANNELS } from '@switchyard/core';

const N = 20_000_000;
const inbound = diagnosticsChannel.channel(CHANNELS.messageIn);
const outbound = diagnosticsChannel.channel(CHANNELS.messageOut);
const connection = {};
let sink = 0;

/** The guards of one echo: a message in and a message out, as connection.ts runs them. */
function echoGuards(size) {
  if (inbound.hasSubscribers) inbound.publish({ connection, size, isBinary: true });
  if (outbound.hasSubscribers) outbound.publish({ connection, size, isBinary: true });
  sink += size;
}

function baseline(size) {
  sink += size;
}

function time(fn) {
  for (let i = 0; i < 1_000_000; i++) fn(i & 63);
  const start = performance.now();
  for (let i = 0; i < N; i++) fn(i & 63);
  return ((performance.now() - start) * 1e6) / N;
}

const rows = [];
for (let round = 0; round < 3; round++) {
  const base = time(baseline);
  const idle = time(echoGuards);
  const listener = (message) => {
    sink += message.size;
  };
  diagnosticsChannel.subscribe(CHANNELS.messageIn, listener);
  diagnosticsChannel.subscribe(CHANNELS.messageOut, listener);
  const observed = time(echoGuards);
  diagnosticsChannel.unsubscribe(CHANNELS.messageIn, listener);
  diagnosticsChannel.unsubscribe(CHANNELS.messageOut, listener);
  rows.push([round + 1, base, idle, observed]);
}
console.log(
  `Diagnostics channel guards per echo (one message in, one out), ${N.toLocaleString('en')} iterations, Node ${process.version}\n`,
);
console.log('| round | empty loop ns | no subscriber ns | one subscriber ns |');
console.log('|---:|---:|---:|---:|');
for (const [round, base, idle, observed] of rows)
  console.log(`| ${round} | ${base.toFixed(2)} | ${idle.toFixed(2)} | ${observed.toFixed(2)} |`);
if (sink === -1) console.log(sink);
